package main

import (
	"fmt"
	"time"

	keel "github.com/keel-dev/keel/clients/go"
)

// registerWorkflows registers the fixed conformance workflows (the same in every language).
// Inputs and outputs are untyped maps, so each registers by name only.
func registerWorkflows(w *keel.Worker) {
	// wf.sequence: two echo steps in a row.
	keel.RegisterWorkflow(w, "wf.sequence", func(wf *keel.WorkflowContext, in object) (object, error) {
		var r1, r2 struct {
			N float64 `json:"n"`
		}
		if err := wf.Activity("echo", object{"n": in["n"]}).Get(&r1); err != nil {
			return nil, err
		}
		if err := wf.Activity("echo", object{"n": r1.N + 1}).Get(&r2); err != nil {
			return nil, err
		}
		return object{"n": r2.N}, nil
	})

	// wf.parallel: seq 1 and 2 are started before either is awaited.
	keel.RegisterWorkflow(w, "wf.parallel", func(wf *keel.WorkflowContext, in object) (object, error) {
		f1, f2 := wf.Activity("echo", object{"i": 1}), wf.Activity("echo", object{"i": 2})
		var r1, r2 any
		if err := f1.Get(&r1); err != nil {
			return nil, err
		}
		if err := f2.Get(&r2); err != nil {
			return nil, err
		}
		return object{"a": r1, "b": r2}, nil
	})

	keel.RegisterWorkflow(w, "wf.sleepSignal", func(wf *keel.WorkflowContext, in object) (object, error) {
		if err := wf.Sleep(time.Second); err != nil {
			return nil, err
		}
		var s any
		if err := wf.Signal("go", 0, &s); err != nil {
			return nil, err
		}
		return object{"signal": s}, nil
	})

	keel.RegisterWorkflow(w, "wf.sideEffects", func(wf *keel.WorkflowContext, in object) (object, error) {
		t, err := wf.Now()
		if err != nil {
			return nil, err
		}
		r, err := wf.Random()
		if err != nil {
			return nil, err
		}
		u, err := wf.UUID()
		if err != nil {
			return nil, err
		}
		return object{"t": t.UnixMilli(), "r": r, "u": u}, nil
	})

	keel.RegisterWorkflow(w, "wf.child", func(wf *keel.WorkflowContext, in object) (object, error) {
		var c any
		if err := wf.Child("wf.sequence", object{"n": in["n"]}, "").Get(&c); err != nil {
			return nil, err
		}
		return object{"child": c}, nil
	})

	// wf.cancellable: on Cancelled, run a compensation, then re-raise.
	keel.RegisterWorkflow(w, "wf.cancellable", func(wf *keel.WorkflowContext, in object) (any, error) {
		var out any
		err := wf.Activity("echo", object{"step": "work"}).Get(&out)
		if keel.IsCancelled(err) {
			if cerr := wf.Activity("echo", object{"step": "compensate"}).Get(nil); cerr != nil {
				return nil, cerr
			}
		}
		return out, err
	})

	keel.RegisterWorkflow(w, "wf.loop", func(wf *keel.WorkflowContext, in object) (object, error) {
		i, _ := in["i"].(float64)
		if i < 3 {
			if err := wf.Activity("echo", object{"i": in["i"]}).Get(nil); err != nil {
				return nil, err
			}
			return nil, wf.ContinueAsNew(object{"i": i + 1})
		}
		return object{"done": in["i"]}, nil
	})

	// wf.publish: two events on the execution's stream, one labelled, one with the default label
	// (conformance 46).
	keel.RegisterWorkflow(w, "wf.publish", func(wf *keel.WorkflowContext, in object) (object, error) {
		if err := wf.Publish("progress", object{"pct": 50}); err != nil {
			return nil, err
		}
		if err := wf.Publish("", "done"); err != nil {
			return nil, err
		}
		return object{"published": 2}, nil
	})

	// wf.patched: the discount step only past patch "add-discount"; the second Patched call
	// answers from memory (conformance 43).
	keel.RegisterWorkflow(w, "wf.patched", func(wf *keel.WorkflowContext, in object) (object, error) {
		p, err := wf.Patched("add-discount")
		if err != nil {
			return nil, err
		}
		if p {
			if err := wf.Activity("echo", object{"step": "discount"}).Get(nil); err != nil {
				return nil, err
			}
		}
		var charge any
		if err := wf.Activity("echo", object{"step": "charge"}).Get(&charge); err != nil {
			return nil, err
		}
		again, err := wf.Patched("add-discount")
		if err != nil {
			return nil, err
		}
		return object{"patched": p, "again": again, "charge": charge}, nil
	})

	// wf.deprecatedPatch: patch "add-discount" deprecated, the new path only (conformance 44).
	keel.RegisterWorkflow(w, "wf.deprecatedPatch", func(wf *keel.WorkflowContext, in object) (object, error) {
		if err := wf.DeprecatePatch("add-discount"); err != nil {
			return nil, err
		}
		var charge any
		if err := wf.Activity("echo", object{"step": "charge"}).Get(&charge); err != nil {
			return nil, err
		}
		return object{"charge": charge}, nil
	})

	// wf.priority: one echo step with its own priority and fairness key, then one that sets
	// neither, so it sends neither and inherits the execution's (conformance 48).
	keel.RegisterWorkflow(w, "wf.priority", func(wf *keel.WorkflowContext, in object) (object, error) {
		var r1, r2 any
		if err := wf.Activity("echo", in, keel.StepOptions{Priority: keel.Priority(7), FairnessKey: "tenant-a"}).Get(&r1); err != nil {
			return nil, err
		}
		if err := wf.Activity("echo", in).Get(&r2); err != nil {
			return nil, err
		}
		return object{"first": r1, "second": r2}, nil
	})

	// wf.upsert: search attributes set, one removed (a nil value, sent as null), then a memo; the
	// output holds the first and third steps' merged sets (conformance 49).
	keel.RegisterWorkflow(w, "wf.upsert", func(wf *keel.WorkflowContext, in object) (object, error) {
		attributes, err := wf.UpsertSearchAttributes(object{"customer": "acme", "amount": 42, "vip": true})
		if err != nil {
			return nil, err
		}
		if _, err := wf.UpsertSearchAttributes(object{"vip": nil}); err != nil {
			return nil, err
		}
		memo, err := wf.UpsertMemo(object{"note": "hi"})
		if err != nil {
			return nil, err
		}
		return object{"attributes": attributes, "memo": memo}, nil
	})

	// wf.query: the query value "progress" set twice, each a step awaited in order (conformance 50).
	keel.RegisterWorkflow(w, "wf.query", func(wf *keel.WorkflowContext, in object) (string, error) {
		if err := wf.SetQueryValue("progress", object{"pct": 50}); err != nil {
			return "", err
		}
		if err := wf.SetQueryValue("progress", object{"pct": 100}); err != nil {
			return "", err
		}
		return "done", nil
	})

	// wf.update: update "approve" received, then answered with {"approved": amount}, or rejected
	// when the amount is over 100 (conformance 51).
	keel.RegisterWorkflow(w, "wf.update", func(wf *keel.WorkflowContext, in object) (object, error) {
		u, err := wf.WaitForUpdate("approve", 0)
		if err != nil {
			return nil, err
		}
		var input struct {
			Amount int64 `json:"amount"`
		}
		if err := u.Decode(&input); err != nil {
			return nil, err
		}
		if input.Amount > 100 {
			if err := wf.Reject(u, fmt.Sprintf("amount %d is over 100", input.Amount)); err != nil {
				return nil, err
			}
			return object{"approved": false}, nil
		}
		if err := wf.Respond(u, object{"approved": input.Amount}); err != nil {
			return nil, err
		}
		return object{"approved": true}, nil
	})
}
