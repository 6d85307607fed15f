"""The durable agent: workflow `agent.run` (and the activity `notify.remind`), in Python.

The agent loops: ask the model for the next action (`llm.complete`), run the tools it chose
(in Go, C, Ruby and Node, each in its own process, and one served by a real MCP server,
mcp-server-git, through Keel's bridge), feed the results back, until the model answers. Sending an email needs a human's approval: the workflow waits for the signal `approve`,
for days if need be, and a reminder (`notify.remind`) fires every `remindEverySeconds` meanwhile.

Every step is journaled by Keel. Kill any process at any moment: the run continues where it
was, and no step whose result was recorded runs again.
"""
import os, sys  # noqa: E401 -- runs from a checkout, without `pip install clients/python`
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python", "src"))

import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402

import keel  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LOG = os.environ.get("KEEL_EXAMPLE_LOG") or os.path.join(HERE, ".state", "side-effects.jsonl")
logger = logging.getLogger("agent")

# The tools the model may call: the function name it sees -> (Keel activity, description, parameters).
# OpenAI-style function names allow no dots, hence the two spellings.
TOOLS = {
    "weather_lookup": ("weather.lookup", "Current weather in a city.",
                       {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    "time_now": ("time.now", "Local date and time in a city.",
                 {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    "calc_evaluate": ("calc.evaluate", "Evaluates arithmetic: + - * / % ^ and parentheses.",
                      {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
    "docs_search": ("docs.search", "Searches the team's documents (policies, handbooks); returns the best passages.",
                    {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["query"]}),
    # A tool of an MCP server we did not write (mcp-server-git, bridged by keel.json's "mcp"): a
    # durable activity like the others, named mcp.SERVER.TOOL.
    "docs_history": ("mcp.git.git_log", "The change history of the team's documents (a Git repository): "
                     "each commit's id, author, date and message, newest first.",
                     {"type": "object", "properties": {"max_count": {"type": "integer", "minimum": 1}}}),
    "email_send": ("email.send", "Sends an email. A human approves every email before it goes out.",
                   {"type": "object", "properties": {"to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}},
                    "required": ["to", "subject", "body"]}),
}
NEEDS_APPROVAL = {"email_send"}
# Arguments the agent fixes, not the model: git.sh starts mcp-server-git in the documents' repository.
BOUND_ARGUMENTS = {"docs_history": {"repo_path": "."}}
TOOL_SPECS = [{"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}
              for name, (_, description, parameters) in TOOLS.items()]
SYSTEM = ("You are a careful assistant. Use the tools to get facts; never guess numbers. "
          "When you have everything, answer in a few short lines.")

# The model is an external, rate-limited API: retry it patiently (Keel honours retryAfterMs).
LLM_RETRY = keel.RetryPolicy(initial_interval=1, backoff_coefficient=2, maximum_interval=30, maximum_attempts=10,
                             non_retryable_error_types=["ModelRequestRejected"])
TOOL_RETRY = keel.RetryPolicy(initial_interval=0.5, maximum_interval=10, maximum_attempts=5,
                              non_retryable_error_types=["BadExpression", "BadInput"])

worker = keel.Worker("agent", max_concurrent=8)

AGENT_INPUT = {"type": "object", "required": ["question"], "properties": {
    "question": {"type": "string", "minLength": 1},
    "remindEverySeconds": {"type": "number", "exclusiveMinimum": 0},
    "maxTurns": {"type": "integer", "minimum": 1, "maximum": 50}}}
AGENT_OUTPUT = {"type": "object", "required": ["answer", "turns", "toolCalls"], "properties": {
    "answer": {"type": "string"}, "turns": {"type": "integer"}, "toolCalls": {"type": "array", "items": {"type": "string"}}}}


@worker.workflow("agent.run", input=AGENT_INPUT, output=AGENT_OUTPUT)
async def agent(ctx: keel.WorkflowContext, input):
    """An LLM agent that calls tools in four languages and an MCP server, and asks a human before sending email."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": input["question"]}]
    used = []
    for turn in range(1, input.get("maxTurns", 8) + 1):
        reply = await ctx.activity("llm.complete", {"messages": messages, "tools": TOOL_SPECS},
                                   retry_policy=LLM_RETRY, start_to_close=120)
        message = reply["message"]
        messages.append(message)
        calls = message.get("tool_calls") or []
        if not calls:
            return {"answer": message.get("content") or "", "turns": turn, "toolCalls": used}
        results = await run_tools(ctx, calls, input)
        for call, result in zip(calls, results):
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result, sort_keys=True)})
            used.append(TOOLS.get(call["function"]["name"], (call["function"]["name"],))[0])
    raise keel.ActivityError(f"the model gave no answer in {input.get('maxTurns', 8)} turns", type="AgentGaveUp", retryable=False)


async def run_tools(ctx, calls, input):
    """Runs one turn's tool calls: the ones needing no approval in parallel, then the others one by
    one, each after its approval. Steps are started here, in a fixed order, so replay matches."""
    results = [None] * len(calls)
    parallel, gated = {}, []
    for i, call in enumerate(calls):
        name = call["function"]["name"]
        try:
            args = json.loads(call["function"].get("arguments") or "{}")
        except ValueError:
            results[i] = {"error": f"arguments are not JSON: {call['function'].get('arguments')!r}"}
            continue
        args = dict(args, **BOUND_ARGUMENTS.get(name, {})) if isinstance(args, dict) else args
        if name not in TOOLS:
            results[i] = {"error": f"no tool named {name!r}"}
        elif name in NEEDS_APPROVAL:
            gated.append((i, name, args))
        else:
            parallel[i] = ctx.activity(TOOLS[name][0], args, retry_policy=TOOL_RETRY, start_to_close=30)
    outcomes = await asyncio.gather(*parallel.values(), return_exceptions=True)
    for i, outcome in zip(parallel, outcomes):
        results[i] = tool_result(outcome)
    for i, name, args in gated:
        approval = await wait_for_approval(ctx, name, args, input.get("remindEverySeconds", 3600))
        if approval.get("approved") is True:
            sending = ctx.activity(TOOLS[name][0], args, retry_policy=TOOL_RETRY, start_to_close=30)
            results[i] = tool_result((await asyncio.gather(sending, return_exceptions=True))[0])
        else:
            results[i] = {"error": "the human approver rejected this call", "note": approval.get("note")}
    return results


def tool_result(outcome):
    """A tool's output, or its failure as data the model can read (it may try something else):
    a tool that failed for good, or arguments that break the tool's contract (3001)."""
    if isinstance(outcome, keel.ActivityError):
        return {"error": outcome.message, "type": outcome.type}
    if isinstance(outcome, keel.KeelError):
        return {"error": outcome.message, "type": "InvalidArguments", "details": outcome.data}
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


async def wait_for_approval(ctx, name, args, every):
    """Waits for the signal `approve` for as long as it takes; each `every` seconds without it,
    sends a reminder. Each wait is its own step with a timeout (not a sleep racing the signal), so
    the journal alone decides what happened on replay."""
    reminders = 0
    if not ctx.is_replaying:
        logger.info("%s: waiting for approval of %s to %s", ctx.workflow_id, name, args.get("to"))
    while True:
        try:
            payload = await ctx.signal("approve", timeout=every)
            return payload if isinstance(payload, dict) else {"approved": bool(payload)}
        except keel.TimedOut:
            reminders += 1
            await ctx.activity("notify.remind", {"workflowId": ctx.workflow_id, "tool": TOOLS[name][0], "args": args,
                                                 "reminder": reminders, "waitingSeconds": reminders * every})


@worker.activity("notify.remind", input={"type": "object", "required": ["workflowId", "reminder"]})
def remind(input, ctx: keel.ActivityContext):
    """Reminds the approver (here: a line on stderr and in the side-effect log)."""
    print(f"REMINDER {input['reminder']}: {input['workflowId']} has waited {input['waitingSeconds']:g}s for approval of "
          f"{input['tool']} {json.dumps(input['args'])}; approve with: keel workflow signal {input['workflowId']} approve "
          "'{\"approved\":true}'", file=sys.stderr)
    side_effect("notify.remind", ctx, input, {"reminded": True})
    return {"reminded": True}


def side_effect(tool, ctx, input, output):
    """Appends one JSON line per performed side effect (one write, O_APPEND: lines never interleave)."""
    line = json.dumps({"tool": tool, "idempotencyKey": ctx.idempotency_key, "attempt": ctx.attempt, "workflowId": ctx.workflow_id,
                       "pid": os.getpid(), "atMs": int(time.time() * 1000), "input": input, "output": output}) + "\n"
    os.makedirs(os.path.dirname(LOG), exist_ok=True)
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


if __name__ == "__main__":
    worker.run_sync()
