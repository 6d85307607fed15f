package keel

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

func TestCreateScheduleSendsOnlyTheFieldsSet(t *testing.T) {
	c, p, _ := signalPeer(t)
	for _, tc := range []struct {
		spec   ScheduleSpec
		action ScheduleAction
		opts   ScheduleOptions
		want   string
	}{
		{ScheduleSpec{IntervalMs: 1000}, ScheduleAction{Workflow: "sched.noop"}, ScheduleOptions{},
			`{"scheduleId":"s-1","spec":{"intervalMs":1000},"action":{"workflow":"sched.noop"}}`},
		{ScheduleSpec{Cron: "0 9 * * MON-FRI", TimeZone: "Europe/Paris", JitterMs: 5000},
			ScheduleAction{Workflow: "reports.daily", Input: map[string]int{"n": 1}, Priority: Priority(0), FairnessKey: "acme",
				ExecutionTimeoutMs: 60000, RunTimeoutMs: 30000},
			ScheduleOptions{Overlap: OverlapBufferOne, CatchupWindowMs: 10000, Paused: true, Note: "new"},
			`{"scheduleId":"s-1","spec":{"cron":"0 9 * * MON-FRI","timeZone":"Europe/Paris","jitterMs":5000},
			  "action":{"workflow":"reports.daily","input":{"n":1},"priority":0,"fairnessKey":"acme",
			            "executionTimeoutMs":60000,"runTimeoutMs":30000},
			  "overlap":"bufferOne","catchupWindowMs":10000,"paused":true,"note":"new"}`},
		{ScheduleSpec{IntervalMs: 3600000, OffsetMs: 60000}, ScheduleAction{Workflow: "w", Input: "x"}, ScheduleOptions{Overlap: OverlapAllowAll},
			`{"scheduleId":"s-1","spec":{"intervalMs":3600000,"offsetMs":60000},"action":{"workflow":"w","input":"x"},"overlap":"allowAll"}`},
	} {
		var d *ScheduleDescription
		done := callAsync(func(ctx context.Context) (err error) {
			d, err = c.CreateSchedule(ctx, "s-1", tc.spec, tc.action, tc.opts)
			return err
		})
		in := p.next(t, "schedule/create")
		sameJSON(t, string(in.params), tc.want)
		in.answer(map[string]any{"scheduleId": "s-1", "spec": tc.spec, "action": tc.action, "overlap": "skip",
			"catchupWindowMs": 31536000000, "paused": tc.opts.Paused, "createdAtMs": 1, "updatedAtMs": 1,
			"nextActionTimesMs": []int64{2000}, "recentActions": []any{}, "started": 0, "skipped": 0})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if d.ScheduleID != "s-1" || d.Spec != tc.spec || d.Action.Workflow != tc.action.Workflow || d.Paused != tc.opts.Paused {
			t.Fatalf("got %+v", d)
		}
	}
}

func TestScheduleMethodsSendTheirParams(t *testing.T) {
	c, p, _ := signalPeer(t)
	describe := map[string]any{"scheduleId": "s-1", "spec": map[string]any{"intervalMs": 1000},
		"action": map[string]any{"workflow": "w"}, "overlap": "skip", "catchupWindowMs": 31536000000, "paused": true,
		"createdAtMs": 1, "updatedAtMs": 2, "nextActionTimesMs": []int64{}, "recentActions": []any{}, "started": 0, "skipped": 0}
	for _, tc := range []struct {
		method string
		call   func(ctx context.Context) error
		want   string
		answer any
	}{
		{"schedule/describe", func(ctx context.Context) error { _, err := c.DescribeSchedule(ctx, "s-1"); return err },
			`{"scheduleId":"s-1"}`, describe},
		{"schedule/list", func(ctx context.Context) error { _, err := c.ListSchedules(ctx, 0, ""); return err },
			`{}`, map[string]any{"schedules": []any{}}},
		{"schedule/list", func(ctx context.Context) error { _, err := c.ListSchedules(ctx, 50, "s-0"); return err },
			`{"limit":50,"cursor":"s-0"}`, map[string]any{"schedules": []any{}}},
		{"schedule/pause", func(ctx context.Context) error { _, err := c.PauseSchedule(ctx, "s-1", ""); return err },
			`{"scheduleId":"s-1"}`, describe},
		{"schedule/pause", func(ctx context.Context) error { _, err := c.PauseSchedule(ctx, "s-1", "maintenance"); return err },
			`{"scheduleId":"s-1","note":"maintenance"}`, describe},
		{"schedule/unpause", func(ctx context.Context) error { _, err := c.UnpauseSchedule(ctx, "s-1", ""); return err },
			`{"scheduleId":"s-1"}`, describe},
		{"schedule/unpause", func(ctx context.Context) error { _, err := c.UnpauseSchedule(ctx, "s-1", "done"); return err },
			`{"scheduleId":"s-1","note":"done"}`, describe},
		{"schedule/trigger", func(ctx context.Context) error { _, err := c.TriggerSchedule(ctx, "s-1", ""); return err },
			`{"scheduleId":"s-1"}`, map[string]any{"scheduleId": "s-1", "workflowId": "s-1-x", "started": true}},
		{"schedule/trigger", func(ctx context.Context) error {
			_, err := c.TriggerSchedule(ctx, "s-1", OverlapCancelOther)
			return err
		}, `{"scheduleId":"s-1","overlap":"cancelOther"}`, map[string]any{"scheduleId": "s-1", "workflowId": "s-1-x", "started": true}},
		{"schedule/delete", func(ctx context.Context) error { return c.DeleteSchedule(ctx, "s-1") },
			`{"scheduleId":"s-1"}`, map[string]any{"scheduleId": "s-1", "deleted": true}},
	} {
		done := callAsync(tc.call)
		in := p.next(t, tc.method)
		sameJSON(t, string(in.params), tc.want)
		in.answer(tc.answer)
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", tc.method, err)
		}
	}
}

func TestScheduleAnswersDecode(t *testing.T) {
	c, p, _ := signalPeer(t)
	var d *ScheduleDescription
	done := callAsync(func(ctx context.Context) (err error) {
		d, err = c.DescribeSchedule(ctx, "nightly")
		return err
	})
	p.next(t, "schedule/describe").answer(json.RawMessage(`{"scheduleId":"nightly",
		"spec":{"cron":"0 8 * * *","timeZone":"UTC"},
		"action":{"workflow":"reports.daily","input":{"day":1},"priority":5,"fairnessKey":"acme"},
		"overlap":"bufferOne","catchupWindowMs":60000,"paused":false,"note":"hi","createdAtMs":10,"updatedAtMs":20,
		"nextActionTimesMs":[1000,2000],
		"recentActions":[{"slotMs":100,"workflowId":"nightly-2026-12-05T08:00:00Z","startedAtMs":101}],
		"runningWorkflowId":"nightly-2026-12-05T08:00:00Z","bufferedSlotMs":200,"started":3,"skipped":1}`))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d.ScheduleID != "nightly" || d.Spec != (ScheduleSpec{Cron: "0 8 * * *", TimeZone: "UTC"}) ||
		d.Action.Workflow != "reports.daily" || d.Action.Priority == nil || *d.Action.Priority != 5 || d.Action.FairnessKey != "acme" ||
		d.Overlap != OverlapBufferOne || d.CatchupWindowMs != 60000 || d.Paused || d.Note != "hi" ||
		d.CreatedAtMs != 10 || d.UpdatedAtMs != 20 || len(d.NextActionTimesMs) != 2 || d.NextActionTimesMs[1] != 2000 ||
		len(d.RecentActions) != 1 || d.RecentActions[0] != (ScheduleRecentAction{100, "nightly-2026-12-05T08:00:00Z", 101}) ||
		d.RunningWorkflowID != "nightly-2026-12-05T08:00:00Z" || d.BufferedSlotMs == nil || *d.BufferedSlotMs != 200 ||
		d.Started != 3 || d.Skipped != 1 {
		t.Fatalf("got %+v", d)
	}
	if input, ok := d.Action.Input.(json.RawMessage); !ok {
		t.Fatalf("input is %T, want json.RawMessage", d.Action.Input)
	} else {
		sameJSON(t, string(input), `{"day":1}`)
	}

	var l *ScheduleList
	done = callAsync(func(ctx context.Context) (err error) {
		l, err = c.ListSchedules(ctx, 1, "")
		return err
	})
	p.next(t, "schedule/list").answer(json.RawMessage(`{"schedules":[{"scheduleId":"a","workflow":"w",
		"spec":{"intervalMs":1000},"paused":true,"nextActionTimeMs":5000}],"nextCursor":"a"}`))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(l.Schedules) != 1 || l.NextCursor != "a" || l.Schedules[0].ScheduleID != "a" || l.Schedules[0].Workflow != "w" ||
		l.Schedules[0].Spec.IntervalMs != 1000 || !l.Schedules[0].Paused || *l.Schedules[0].NextActionTimeMs != 5000 {
		t.Fatalf("got %+v", l)
	}

	var tr *ScheduleTriggered
	done = callAsync(func(ctx context.Context) (err error) {
		tr, err = c.TriggerSchedule(ctx, "a", "")
		return err
	})
	p.next(t, "schedule/trigger").answer(map[string]any{"scheduleId": "a", "workflowId": "a-2026-12-05T08:00:00Z", "started": false})
	if err := <-done; err != nil || tr.ScheduleID != "a" || tr.WorkflowID != "a-2026-12-05T08:00:00Z" || tr.Started {
		t.Fatalf("got %+v, %v", tr, err)
	}
}

func TestScheduleErrorsCarryTheirCode(t *testing.T) {
	c, p, _ := signalPeer(t)
	done := callAsync(func(ctx context.Context) error {
		_, err := c.CreateSchedule(ctx, "s-1", ScheduleSpec{IntervalMs: 1000}, ScheduleAction{Workflow: "w"}, ScheduleOptions{})
		return err
	})
	p.next(t, "schedule/create").fail(&Error{Code: CodeScheduleAlreadyExists, Message: "schedule s-1 already exists"})
	var rpc *Error
	if err := <-done; !errors.As(err, &rpc) || rpc.Code != 1021 {
		t.Fatalf("create: got %v", err)
	}
	for _, tc := range []struct {
		method string
		call   func(ctx context.Context) error
	}{
		{"schedule/describe", func(ctx context.Context) error { _, err := c.DescribeSchedule(ctx, "s-1"); return err }},
		{"schedule/pause", func(ctx context.Context) error { _, err := c.PauseSchedule(ctx, "s-1", ""); return err }},
		{"schedule/unpause", func(ctx context.Context) error { _, err := c.UnpauseSchedule(ctx, "s-1", ""); return err }},
		{"schedule/trigger", func(ctx context.Context) error { _, err := c.TriggerSchedule(ctx, "s-1", ""); return err }},
		{"schedule/delete", func(ctx context.Context) error { return c.DeleteSchedule(ctx, "s-1") }},
	} {
		done := callAsync(tc.call)
		p.next(t, tc.method).fail(&Error{Code: CodeScheduleNotFound, Message: "no schedule s-1"})
		if err := <-done; !errors.As(err, &rpc) || rpc.Code != 1020 {
			t.Fatalf("%s: got %v", tc.method, err)
		}
	}
}

func TestScheduleCallsRepeatedAfterADropOnlyWhenSafe(t *testing.T) {
	for method, want := range map[string]bool{"schedule/describe": true, "schedule/list": true, "schedule/pause": false,
		"schedule/unpause": false, "schedule/create": false, "schedule/trigger": false, "schedule/delete": false} {
		if got := safeToRepeat(method, map[string]any{"scheduleId": "s-1"}); got != want {
			t.Errorf("safeToRepeat(%s) = %v, want %v", method, got, want)
		}
	}
}
