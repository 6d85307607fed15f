package keel

import (
	"testing"
	"time"
)

// discount is a workflow changed by patch "add-discount": the discount step only past the patch,
// and a second Patched call that must answer from memory.
func discount(wf *WorkflowContext, in any) (map[string]any, error) {
	p, err := wf.Patched("add-discount")
	if err != nil {
		return nil, err
	}
	if p {
		if err := wf.Activity("echo", "discount").Get(nil); err != nil {
			return nil, err
		}
	}
	var charge string
	if err := wf.Activity("echo", "charge").Get(&charge); err != nil {
		return nil, err
	}
	again, err := wf.Patched("add-discount")
	if err != nil {
		return nil, err
	}
	return map[string]any{"patched": p, "again": again, "charge": charge}, nil
}

func noMoreSteps(t *testing.T, p *peer) {
	t.Helper()
	select {
	case extra := <-p.requests:
		t.Fatalf("unexpected %s: %s", extra.method, extra.params)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPatchedLiveRecordsOneMarkerAndAnswersTrue(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "discount", discount) })
	answer := runWorkflow(t, p, "discount", `{}`, `[]`, false)
	marker := p.next(t, "workflow/step")
	sameJSON(t, string(marker.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"patch","name":"add-discount","input":{}}`)
	marker.answer(map[string]any{"status": "completed", "result": true})
	step := p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"activity","name":"echo","input":"discount"}`)
	step.answer(map[string]any{"status": "completed", "result": "discount"})
	step = p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":3,"kind":"activity","name":"echo","input":"charge"}`)
	step.answer(map[string]any{"status": "completed", "result": "charged"})
	// The second Patched("add-discount") sends no second marker.
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"patched":true,"again":true,"charge":"charged"}}`)
	noMoreSteps(t, p)
}

func TestPatchedReplaysARecordedMarkerWithoutSendingIt(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "discount", discount) })
	answer := runWorkflow(t, p, "discount", `{}`, `[
		{"seq":1,"kind":"patch","name":"add-discount","status":"completed","result":true},
		{"seq":2,"kind":"activity","name":"echo","status":"completed","result":"discount"}]`, false)
	// The marker uses up seq 1: the next new step is seq 3.
	step := p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":3,"kind":"activity","name":"echo","input":"charge"}`)
	step.answer(map[string]any{"status": "completed", "result": "charged"})
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"patched":true,"again":true,"charge":"charged"}}`)
	noMoreSteps(t, p)
}

func TestPatchedIsFalseForAnExecutionRecordedBeforeThePatch(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "discount", discount) })
	// A completed step at seq 1: the old path, which takes seq 1 itself.
	answer := runWorkflow(t, p, "discount", `{}`, `[
		{"seq":1,"kind":"activity","name":"echo","status":"completed","result":"charged before"}]`, false)
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"patched":false,"again":false,"charge":"charged before"}}`)
	noMoreSteps(t, p)

	// A step still scheduled at seq 1: also the old path; the old step is sent again at seq 1.
	answer = runWorkflow(t, p, "discount", `{}`, `[{"seq":1,"kind":"activity","name":"echo","status":"scheduled"}]`, false)
	step := p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"activity","name":"echo","input":"charge"}`)
	step.answer(map[string]any{"status": "completed", "result": "charged"})
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"patched":false,"again":false,"charge":"charged"}}`)
	noMoreSteps(t, p)
}

func TestPatchedIsMemoizedPerRunAndPerID(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "two", func(wf *WorkflowContext, in any) ([]bool, error) {
			var out []bool
			for _, id := range []string{"a", "a", "b", "a", "b"} {
				v, err := wf.Patched(id)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			return out, nil
		})
	})
	// Replay: marker "a" at seq 1; then nothing recorded, so "b" is new and sent at seq 2.
	answer := runWorkflow(t, p, "two", `{}`, `[{"seq":1,"kind":"patch","name":"a","status":"completed","result":true}]`, false)
	marker := p.next(t, "workflow/step")
	sameJSON(t, string(marker.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"patch","name":"b","input":{}}`)
	marker.answer(map[string]any{"status": "completed", "result": true})
	sameJSON(t, await(t, answer), `{"status":"completed","output":[true,true,true,true,true]}`)
	noMoreSteps(t, p)

	// Old execution: a marker of another patch at seq 1 is not "a"'s; false both times, seq 1
	// left for the next step ("b"'s marker, which matches).
	answer = runWorkflow(t, p, "two", `{}`, `[{"seq":1,"kind":"patch","name":"b","status":"completed","result":true}]`, false)
	sameJSON(t, await(t, answer), `{"status":"completed","output":[false,false,true,false,true]}`)
	noMoreSteps(t, p)
}

func TestDeprecatePatchRecordsLiveAndUsesUpOnlyItsOwnMarker(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "deprecated", func(wf *WorkflowContext, in any) (string, error) {
			if err := wf.DeprecatePatch("add-discount"); err != nil {
				return "", err
			}
			var charge string
			err := wf.Activity("echo", "charge").Get(&charge)
			return charge, err
		})
	})
	answer := runWorkflow(t, p, "deprecated", `{}`, `[]`, false)
	marker := p.next(t, "workflow/step")
	sameJSON(t, string(marker.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"patch","name":"add-discount","input":{}}`)
	marker.answer(map[string]any{"status": "completed", "result": true})
	step := p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"activity","name":"echo","input":"charge"}`)
	step.answer(map[string]any{"status": "completed", "result": "charged"})
	sameJSON(t, await(t, answer), `{"status":"completed","output":"charged"}`)

	answer = runWorkflow(t, p, "deprecated", `{}`, `[
		{"seq":1,"kind":"patch","name":"add-discount","status":"completed","result":true},
		{"seq":2,"kind":"activity","name":"echo","status":"completed","result":"replayed"}]`, false)
	sameJSON(t, await(t, answer), `{"status":"completed","output":"replayed"}`)

	answer = runWorkflow(t, p, "deprecated", `{}`, `[
		{"seq":1,"kind":"activity","name":"echo","status":"completed","result":"old"}]`, false)
	sameJSON(t, await(t, answer), `{"status":"completed","output":"old"}`)
	noMoreSteps(t, p)
}

func TestPatchedRejectsAnEmptyIDAndReportsAMarkerFailure(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "empty", func(wf *WorkflowContext, in any) (bool, error) { return wf.Patched("") })
		RegisterWorkflow(w, "emptyDeprecated", func(wf *WorkflowContext, in any) (any, error) {
			return nil, wf.DeprecatePatch("")
		})
		RegisterWorkflow(w, "refused", func(wf *WorkflowContext, in any) (bool, error) { return wf.Patched("x") })
	})
	want := `{"status":"failed","failure":{"type":"Error","message":"keel: Patched needs a non-empty patch id","retryable":true,"details":null}}`
	sameJSON(t, await(t, runWorkflow(t, p, "empty", `{}`, `[]`, false)), want)
	sameJSON(t, await(t, runWorkflow(t, p, "emptyDeprecated", `{}`, `[]`, false)), want)
	noMoreSteps(t, p)

	answer := runWorkflow(t, p, "refused", `{}`, `[]`, false)
	p.next(t, "workflow/step").answer(map[string]any{"status": "failed", "failure": map[string]any{"type": "Refused", "message": "no"}})
	sameJSON(t, await(t, answer), `{"status":"failed","failure":{"type":"Refused","message":"no","retryable":true,"details":null}}`)
}

func TestBuildIDFromOptionsOrEnvironmentInTheRegistration(t *testing.T) {
	register := func(t *testing.T, opts WorkerOptions) string {
		t.Helper()
		socket, peers := socketPeer(t)
		opts.Socket, opts.MaxConcurrent, opts.NoSignalHandling, opts.Logger = socket, 4, true, quietLogger()
		w := NewWorker("test-worker", opts)
		startWorker(t, w)
		return string(nextPeer(t, peers).waitRegistered(t))
	}
	base := `"name":"test-worker","language":"go","maxConcurrent":4,"activities":[],"workflows":[]`

	t.Setenv("KEEL_BUILD_ID", "")
	sameJSON(t, register(t, WorkerOptions{}), `{`+base+`}`)
	sameJSON(t, register(t, WorkerOptions{CompatibleBuildIDs: []string{"v1"}}), `{`+base+`}`)
	sameJSON(t, register(t, WorkerOptions{BuildID: "v2"}), `{`+base+`,"buildId":"v2"}`)
	sameJSON(t, register(t, WorkerOptions{BuildID: "v3", CompatibleBuildIDs: []string{"v1", "v2"}}),
		`{`+base+`,"buildId":"v3","compatibleBuildIds":["v1","v2"]}`)

	t.Setenv("KEEL_BUILD_ID", "build-7")
	sameJSON(t, register(t, WorkerOptions{}), `{`+base+`,"buildId":"build-7"}`)
	sameJSON(t, register(t, WorkerOptions{CompatibleBuildIDs: []string{"build-6"}}),
		`{`+base+`,"buildId":"build-7","compatibleBuildIds":["build-6"]}`)
	sameJSON(t, register(t, WorkerOptions{BuildID: "from-code"}), `{`+base+`,"buildId":"from-code"}`)
}
