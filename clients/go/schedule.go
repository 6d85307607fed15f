package keel

import (
	"context"
	"encoding/json"
)

// Overlap policies of a schedule: what a slot (or a trigger) does while the schedule's previous
// workflow still runs.
const (
	// OverlapSkip skips the slot (Keel's default).
	OverlapSkip = "skip"
	// OverlapBufferOne keeps one slot and starts it when the running workflow ends.
	OverlapBufferOne = "bufferOne"
	// OverlapAllowAll starts every slot.
	OverlapAllowAll = "allowAll"
	// OverlapCancelOther cancels the running workflow and starts the slot.
	OverlapCancelOther = "cancelOther"
)

// ScheduleSpec is when a schedule starts its action: exactly one of Cron and IntervalMs (Keel
// answers -32602 otherwise). Zero fields are not sent.
type ScheduleSpec struct {
	// Cron is a cron expression, e.g. "0 9 * * MON-FRI".
	Cron string `json:"cron,omitempty"`
	// TimeZone is the IANA name Cron is read in, e.g. "Europe/Paris" (cron only; Keel's default UTC).
	TimeZone string `json:"timeZone,omitempty"`
	// IntervalMs starts the action every IntervalMs (a whole number of seconds, at least 1000).
	IntervalMs int64 `json:"intervalMs,omitempty"`
	// OffsetMs is the interval's phase (interval only; default 0).
	OffsetMs int64 `json:"offsetMs,omitempty"`
	// JitterMs delays each start by a stable random amount below it (default 0).
	JitterMs int64 `json:"jitterMs,omitempty"`
}

// ScheduleAction is the workflow a schedule starts at each slot. Zero optional fields are not sent.
type ScheduleAction struct {
	// Workflow is the workflow name.
	Workflow string `json:"workflow"`
	// Input is any JSON-encodable value (nil sends none); a decoded action holds a json.RawMessage.
	Input any `json:"input,omitempty"`
	// Priority and FairnessKey are each started execution's, as in StartOptions.
	Priority    *int   `json:"priority,omitempty"`
	FairnessKey string `json:"fairnessKey,omitempty"`
	// ExecutionTimeoutMs and RunTimeoutMs bound each started execution (0: none sent).
	ExecutionTimeoutMs int64 `json:"executionTimeoutMs,omitempty"`
	RunTimeoutMs       int64 `json:"runTimeoutMs,omitempty"`
}

// UnmarshalJSON decodes a wire action, keeping its input as a json.RawMessage.
func (a *ScheduleAction) UnmarshalJSON(data []byte) error {
	type plain ScheduleAction
	var w struct {
		plain
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*a = ScheduleAction(w.plain)
	if len(w.Input) > 0 {
		a.Input = w.Input
	}
	return nil
}

// ScheduleOptions for CreateSchedule. Zero fields are not sent (Keel's defaults apply).
type ScheduleOptions struct {
	// Overlap is OverlapSkip (Keel's default), OverlapBufferOne, OverlapAllowAll or OverlapCancelOther.
	Overlap string
	// CatchupWindowMs is how far back missed slots still start after Keel was down (default one
	// year, minimum 10000).
	CatchupWindowMs int64
	// Paused creates the schedule paused: no slot starts until UnpauseSchedule.
	Paused bool
	// Note is free text shown by DescribeSchedule.
	Note string
}

// ScheduleDescription is schedule/describe's answer (and that of schedule/create, pause and unpause).
type ScheduleDescription struct {
	ScheduleID      string         `json:"scheduleId"`
	Spec            ScheduleSpec   `json:"spec"`
	Action          ScheduleAction `json:"action"`
	Overlap         string         `json:"overlap"`
	CatchupWindowMs int64          `json:"catchupWindowMs"`
	Paused          bool           `json:"paused"`
	Note            string         `json:"note,omitempty"`
	CreatedAtMs     int64          `json:"createdAtMs"`
	UpdatedAtMs     int64          `json:"updatedAtMs"`
	// NextActionTimesMs are the next (up to 5) slot times, epoch ms.
	NextActionTimesMs []int64 `json:"nextActionTimesMs"`
	// RecentActions are the last (up to 10) starts, newest last.
	RecentActions []ScheduleRecentAction `json:"recentActions"`
	// RunningWorkflowID is the schedule's workflow still running, "" when none.
	RunningWorkflowID string `json:"runningWorkflowId,omitempty"`
	// BufferedSlotMs is the slot OverlapBufferOne holds back, nil when none.
	BufferedSlotMs *int64 `json:"bufferedSlotMs,omitempty"`
	// Started and Skipped count the slots started and skipped so far.
	Started int64 `json:"started"`
	Skipped int64 `json:"skipped"`
}

// ScheduleRecentAction is one start of a schedule's action. A slot's workflow id is
// "<scheduleId>-<slot time as UTC ISO 8601 to the second>", e.g. "nightly-2026-12-05T08:00:00Z".
type ScheduleRecentAction struct {
	SlotMs      int64  `json:"slotMs"`
	WorkflowID  string `json:"workflowId"`
	StartedAtMs int64  `json:"startedAtMs"`
}

// ScheduleList is one page of schedule/list, ordered by schedule id.
type ScheduleList struct {
	Schedules []ScheduleSummary `json:"schedules"`
	// NextCursor fetches the next page; "" on the last one.
	NextCursor string `json:"nextCursor,omitempty"`
}

// ScheduleSummary is one schedule in a ScheduleList.
type ScheduleSummary struct {
	ScheduleID string       `json:"scheduleId"`
	Workflow   string       `json:"workflow"`
	Spec       ScheduleSpec `json:"spec"`
	Paused     bool         `json:"paused"`
	// NextActionTimeMs is the next slot time, nil when none.
	NextActionTimeMs *int64 `json:"nextActionTimeMs,omitempty"`
}

// ScheduleTriggered is schedule/trigger's answer.
type ScheduleTriggered struct {
	ScheduleID string `json:"scheduleId"`
	WorkflowID string `json:"workflowId"`
	// Started is false when the overlap policy did not start the action.
	Started bool `json:"started"`
}

// CreateSchedule creates schedule id (1 to 200 bytes, the characters a workflow id allows), which
// starts action at each slot of spec, and returns its description. It returns an *Error with
// code CodeScheduleAlreadyExists (1021) when id is in use, CodeInvalidParams for e.g. a bad cron
// expression or time zone.
func (c *Client) CreateSchedule(ctx context.Context, id string, spec ScheduleSpec, action ScheduleAction, opts ScheduleOptions) (*ScheduleDescription, error) {
	params := map[string]any{"scheduleId": id, "spec": spec, "action": action}
	if opts.Overlap != "" {
		params["overlap"] = opts.Overlap
	}
	if opts.CatchupWindowMs != 0 {
		params["catchupWindowMs"] = opts.CatchupWindowMs
	}
	if opts.Paused {
		params["paused"] = true
	}
	if opts.Note != "" {
		params["note"] = opts.Note
	}
	return c.scheduleCall(ctx, "schedule/create", params)
}

// DescribeSchedule returns schedule id's state, or an *Error with code CodeScheduleNotFound (1020).
func (c *Client) DescribeSchedule(ctx context.Context, id string) (*ScheduleDescription, error) {
	return c.scheduleCall(ctx, "schedule/describe", map[string]any{"scheduleId": id})
}

// ListSchedules returns up to limit schedules (1 to 1000; 0 sends none: Keel's default 100) by
// schedule id, after cursor ("" for the first page; then ScheduleList.NextCursor).
func (c *Client) ListSchedules(ctx context.Context, limit int, cursor string) (*ScheduleList, error) {
	params := map[string]any{}
	if limit != 0 {
		params["limit"] = limit
	}
	if cursor != "" {
		params["cursor"] = cursor
	}
	var l ScheduleList
	if err := c.call(ctx, "schedule/list", params, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// PauseSchedule stops schedule id from starting slots and returns its description; note ("" sends
// none) records why. It returns an *Error with code CodeScheduleNotFound (1020) for an unknown id.
func (c *Client) PauseSchedule(ctx context.Context, id, note string) (*ScheduleDescription, error) {
	return c.scheduleCall(ctx, "schedule/pause", scheduleNote(id, note))
}

// UnpauseSchedule lets schedule id start slots again, from the next one: the slots missed while
// paused do not start. note ("" sends none) records why.
func (c *Client) UnpauseSchedule(ctx context.Context, id, note string) (*ScheduleDescription, error) {
	return c.scheduleCall(ctx, "schedule/unpause", scheduleNote(id, note))
}

// TriggerSchedule starts schedule id's action now, even when paused, under overlap (one of the
// Overlap constants; "" sends none: the schedule's own policy).
func (c *Client) TriggerSchedule(ctx context.Context, id, overlap string) (*ScheduleTriggered, error) {
	params := map[string]any{"scheduleId": id}
	if overlap != "" {
		params["overlap"] = overlap
	}
	var t ScheduleTriggered
	if err := c.call(ctx, "schedule/trigger", params, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteSchedule deletes schedule id; workflows it already started keep running. It returns an
// *Error with code CodeScheduleNotFound (1020) for an unknown id.
func (c *Client) DeleteSchedule(ctx context.Context, id string) error {
	var result struct {
		Deleted bool `json:"deleted"`
	}
	return c.call(ctx, "schedule/delete", map[string]any{"scheduleId": id}, &result)
}

// scheduleCall makes a call whose answer is a schedule's description.
func (c *Client) scheduleCall(ctx context.Context, method string, params map[string]any) (*ScheduleDescription, error) {
	var d ScheduleDescription
	if err := c.call(ctx, method, params, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func scheduleNote(id, note string) map[string]any {
	params := map[string]any{"scheduleId": id}
	if note != "" {
		params["note"] = note
	}
	return params
}
