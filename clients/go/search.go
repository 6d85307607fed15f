package keel

// Search attributes and memo (docs/protocol.md, "Search attributes and memo"): an execution's
// search attributes are indexed values (strings, finite numbers, booleans) that workflow/list
// queries match; its memo is unindexed JSON shown by workflow/describe. Both are set at
// workflow/start (StartOptions) and changed by the workflow with a durable "upsert" step.

import "context"

// UpsertSearchAttributes merges attrs into this execution's search attributes and returns the
// merged set. A nil value removes its key: it is sent as JSON null. It is a durable step of kind
// "upsert" named "searchAttributes", awaited in program order like Now or Publish: a replay finds
// it in the journal, sends nothing and returns the recorded merged set. Keys and values are as
// for StartOptions.SearchAttributes; Keel refuses others and the refusal is returned.
func (wf *WorkflowContext) UpsertSearchAttributes(attrs map[string]any) (map[string]any, error) {
	return wf.upsert("searchAttributes", attrs)
}

// UpsertMemo merges memo (any JSON values; at most 32 KiB encoded in all) into this execution's
// memo and returns the merged memo. A nil value removes its key. It is a durable step like
// UpsertSearchAttributes, named "memo".
func (wf *WorkflowContext) UpsertMemo(memo map[string]any) (map[string]any, error) {
	return wf.upsert("memo", memo)
}

// upsert runs the "upsert" step name with values as its input (an object, also when values is
// nil; nil values stay JSON null) and decodes the merged object Keel answers.
func (wf *WorkflowContext) upsert(name string, values map[string]any) (map[string]any, error) {
	if values == nil {
		values = map[string]any{}
	}
	var merged map[string]any
	if err := wf.run.step("upsert", name, values, nil).Get(&merged); err != nil {
		return nil, err
	}
	return merged, nil
}

// ListOptions filter and page ListWorkflows. Zero fields are not sent (Keel's defaults apply).
type ListOptions struct {
	// Query selects executions by built-in fields (workflowId, name, status, startedAt, which is
	// createdAt, updatedAt) and search attributes, with = != < <= > >= IN STARTS_WITH, AND, OR,
	// NOT and parentheses:
	//
	//	customer = "acme" AND amount >= 100 AND (status = "running" OR status = "suspended")
	//	startedAt > "2026-12-01" AND NOT vip = true AND region IN ("eu", "us") AND sku STARTS_WITH "A-"
	//
	// A bad query fails with an *Error with code CodeInvalidQuery (1013), whose message names the
	// token and its position (Data: {query, position, term}).
	Query string `json:"query,omitempty"`
	// Status and Name keep only executions with this status or workflow name.
	Status string `json:"status,omitempty"`
	Name   string `json:"name,omitempty"`
	// CreatedAfterMs and CreatedBeforeMs bound the creation time (Unix milliseconds).
	CreatedAfterMs  int64 `json:"createdAfterMs,omitempty"`
	CreatedBeforeMs int64 `json:"createdBeforeMs,omitempty"`
	// Limit is the page size (at most 1000; Keel's default 100).
	Limit int `json:"limit,omitempty"`
	// Cursor continues from a previous page's NextCursor.
	Cursor string `json:"cursor,omitempty"`
	// Order is "oldest" (Keel's default) or "newest" first.
	Order string `json:"order,omitempty"`
}

// WorkflowSummary is one execution in workflow/list's answer.
type WorkflowSummary struct {
	WorkflowID  string `json:"workflowId"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	CreatedAtMs int64  `json:"createdAtMs"`
	UpdatedAtMs int64  `json:"updatedAtMs"`
	// BuildID is the build the execution is pinned to ("" when unversioned).
	BuildID string `json:"buildId,omitempty"`
	// Node is the cluster node that runs the execution now ("" while it waits, or not clustered).
	Node string `json:"node,omitempty"`
	// SearchAttributes are the execution's search attributes (nil when none are set).
	SearchAttributes map[string]any `json:"searchAttributes,omitempty"`
}

// WorkflowList is one page of workflow/list.
type WorkflowList struct {
	Workflows []WorkflowSummary `json:"workflows"`
	// NextCursor is set when more executions follow: pass it as ListOptions.Cursor.
	NextCursor string `json:"nextCursor,omitempty"`
}

// ListWorkflows returns one page of executions (workflow/list) matching opts, e.g.
//
//	l, err := c.ListWorkflows(ctx, keel.ListOptions{Query: `customer = "acme" AND stage = "shipped"`})
//
// opts.Query is passed to Keel as is (see ListOptions.Query for the grammar); a bad query returns
// an *Error with code CodeInvalidQuery (1013). It is a read, so a call in flight when the
// connection drops is sent again after the reconnect.
func (c *Client) ListWorkflows(ctx context.Context, opts ListOptions) (*WorkflowList, error) {
	var l WorkflowList
	if err := c.call(ctx, "workflow/list", opts, &l); err != nil {
		return nil, err
	}
	return &l, nil
}
