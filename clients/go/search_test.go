package keel

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// tagOrder upserts search attributes (removing "draft" with a nil value), then a memo, and returns
// what each step answered.
func tagOrder(wf *WorkflowContext, in any) (map[string]any, error) {
	attributes, err := wf.UpsertSearchAttributes(map[string]any{"customer": "acme", "draft": nil})
	if err != nil {
		return nil, err
	}
	memo, err := wf.UpsertMemo(nil)
	if err != nil {
		return nil, err
	}
	return map[string]any{"attributes": attributes, "memo": memo}, nil
}

func TestUpsertSendsANilValueAsNullAndReplaysFromTheJournal(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "tag", tagOrder) })
	answer := runWorkflow(t, p, "tag", `{}`, `[]`, false)
	step := p.next(t, "workflow/step")
	// The removal is on the wire as null, not dropped: {"customer":"acme"} would keep "draft".
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"upsert","name":"searchAttributes",
		"input":{"customer":"acme","draft":null}}`)
	step.answer(map[string]any{"status": "completed", "result": map[string]any{"customer": "acme", "tier": 1}})
	step = p.next(t, "workflow/step")
	// A nil map is still an object.
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"upsert","name":"memo","input":{}}`)
	step.answer(map[string]any{"status": "completed", "result": map[string]any{"owner": "ops"}})
	want := `{"status":"completed","output":{"attributes":{"customer":"acme","tier":1},"memo":{"owner":"ops"}}}`
	sameJSON(t, await(t, answer), want)

	answer = runWorkflow(t, p, "tag", `{}`, `[
		{"seq":1,"kind":"upsert","name":"searchAttributes","status":"completed","result":{"customer":"acme","tier":1}},
		{"seq":2,"kind":"upsert","name":"memo","status":"completed","result":{"owner":"ops"}}]`, false)
	sameJSON(t, await(t, answer), want)
	noMoreSteps(t, p)
}

func TestUpsertReturnsTheStepsFailure(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "tag", tagOrder) })
	answer := runWorkflow(t, p, "tag", `{}`, `[]`, false)
	p.next(t, "workflow/step").answer(map[string]any{"status": "failed",
		"failure": map[string]any{"type": "InvalidSearchAttributes", "message": "draft: unknown"}})
	sameJSON(t, await(t, answer), `{"status":"failed","failure":{"type":"InvalidSearchAttributes","message":"draft: unknown","retryable":true,"details":null}}`)
	noMoreSteps(t, p)
}

func TestStartWorkflowSendsSearchAttributesAndMemoOnlyWhenSet(t *testing.T) {
	c, p, _ := signalPeer(t)
	for _, tc := range []struct {
		opts StartOptions
		want string
	}{
		{StartOptions{SearchAttributes: map[string]any{"customer": "acme", "tier": 1}, Memo: map[string]any{"owner": "ops"}},
			`{"name":"orders","input":{},"searchAttributes":{"customer":"acme","tier":1},"memo":{"owner":"ops"}}`},
		{StartOptions{Memo: map[string]any{"note": nil}}, `{"name":"orders","input":{},"memo":{"note":null}}`},
		{StartOptions{}, `{"name":"orders","input":{}}`},
	} {
		done := callAsync(func(ctx context.Context) error {
			_, err := c.StartWorkflow(ctx, "orders", map[string]any{}, tc.opts)
			return err
		})
		in := p.next(t, "workflow/start")
		sameJSON(t, string(in.params), tc.want)
		in.answer(map[string]any{"workflowId": "wf-1", "status": "running", "started": true})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestListWorkflowsPassesTheQueryAndDecodesSummaries(t *testing.T) {
	c, p, _ := signalPeer(t)
	var l *WorkflowList
	done := callAsync(func(ctx context.Context) (err error) {
		l, err = c.ListWorkflows(ctx, ListOptions{Query: `customer = "acme" AND stage = "shipped"`, Limit: 10, Order: "newest"})
		return err
	})
	in := p.next(t, "workflow/list")
	sameJSON(t, string(in.params), `{"query":"customer = \"acme\" AND stage = \"shipped\"","limit":10,"order":"newest"}`)
	in.answer(map[string]any{"workflows": []any{map[string]any{"workflowId": "order-1", "name": "orders", "status": "completed",
		"createdAtMs": 1, "updatedAtMs": 2, "searchAttributes": map[string]any{"customer": "acme", "stage": "shipped"}}},
		"nextCursor": "c-2"})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(l.Workflows) != 1 || l.Workflows[0].WorkflowID != "order-1" || l.NextCursor != "c-2" {
		t.Fatalf("got %+v", l)
	}
	sameJSON(t, mustJSON(t, l.Workflows[0].SearchAttributes), `{"customer":"acme","stage":"shipped"}`)

	// No options send an empty object; a bad query comes back as the *Error Keel answers.
	done = callAsync(func(ctx context.Context) (err error) {
		_, err = c.ListWorkflows(ctx, ListOptions{})
		return err
	})
	in = p.next(t, "workflow/list")
	sameJSON(t, string(in.params), `{}`)
	in.fail(&Error{Code: CodeInvalidQuery, Message: "bad query at character 8: unexpected `=`",
		Data: json.RawMessage(`{"query":"stage = = 1","position":8,"token":"="}`)})
	var rpc *Error
	if err := <-done; !errors.As(err, &rpc) || rpc.Code != CodeInvalidQuery {
		t.Fatalf("got %v, want code 1013", err)
	}
}

func TestDescribeWorkflowDecodesSearchAttributesAndMemo(t *testing.T) {
	c, p, _ := signalPeer(t)
	var d *WorkflowDescription
	done := callAsync(func(ctx context.Context) (err error) {
		d, err = c.DescribeWorkflow(ctx, "wf-1")
		return err
	})
	p.next(t, "workflow/describe").answer(map[string]any{"workflowId": "wf-1", "name": "orders", "status": "running",
		"runId": 1, "input": map[string]any{}, "createdAtMs": 1, "updatedAtMs": 1, "priority": 0,
		"searchAttributes": map[string]any{"customer": "acme", "tier": 1}, "memo": map[string]any{"owner": "ops"}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sameJSON(t, mustJSON(t, d.SearchAttributes), `{"customer":"acme","tier":1}`)
	sameJSON(t, mustJSON(t, d.Memo), `{"owner":"ops"}`)
}
