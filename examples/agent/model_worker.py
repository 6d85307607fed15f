"""The model worker: activity `llm.complete` ({messages, tools} -> {message}), in Python.

Offline by default: a deterministic scripted model that reads the conversation and plans tool
calls for the example's prompts (weather, local time, arithmetic, document search, the
documents' change history, email).
With KEEL_LLM_URL and KEEL_LLM_KEY set, it calls that OpenAI-compatible chat-completions
endpoint instead (model: KEEL_LLM_MODEL, default gpt-4o-mini). A 429 or 5xx becomes a retryable
failure with retryAfterMs from Retry-After, so Keel backs off as the API asks.
Either way the answer's text is published, token by token as it is written, to the workflow's
stream (`keel workflow follow agent-demo`).

Options: --think-ms N (scripted model latency, default 0), --rate-limit-first-call (answer the
first attempt of the first call with a simulated 429 + Retry-After: 1, to show a retry).
"""
import os, sys  # noqa: E401 -- runs from a checkout, without `pip install clients/python`
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python", "src"))

import argparse  # noqa: E402
import email.utils  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

import keel  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LOG = os.environ.get("KEEL_EXAMPLE_LOG") or os.path.join(HERE, ".state", "side-effects.jsonl")
# Bound on one HTTP request to the model endpoint (the activity's start-to-close is 120 s).
HTTP_TIMEOUT_S = 90
# The scripted model's pace when it writes its answer (with --think-ms): one token per 10 ms.
TOKEN_DELAY_S = 0.01

options = argparse.Namespace(think_ms=0, rate_limit_first_call=False)
worker = keel.Worker("model", max_concurrent=4)

MESSAGES = {"type": "array", "items": {"type": "object", "required": ["role"]}}


@worker.activity("llm.complete", input={"type": "object", "required": ["messages"], "properties": {"messages": MESSAGES, "tools": {"type": "array"}}},
                 output={"type": "object", "required": ["message"]})
def complete(input, ctx: keel.ActivityContext):
    """Asks the model for the next assistant message (content, or tool_calls)."""
    if os.environ.get("KEEL_LLM_URL") and os.environ.get("KEEL_LLM_KEY"):
        message, model = remote(input, publisher(ctx)), os.environ.get("KEEL_LLM_MODEL", "gpt-4o-mini")
    else:
        if options.rate_limit_first_call and ctx.attempt == 1 and ctx.idempotency_key and ctx.idempotency_key.endswith("/1"):
            raise keel.ActivityError("429 Too Many Requests (simulated)", type="RateLimited", retryable=True, retry_after=1, details={"status": 429})
        time.sleep(options.think_ms / 1000)
        message, model = scripted(input["messages"]), "scripted"
        stream(ctx, message.get("content"), delay=TOKEN_DELAY_S if options.think_ms else 0)
    side_effect("llm.complete", ctx, {"turn": sum(m.get("role") == "assistant" for m in input["messages"]) + 1}, message)
    return {"message": message, "model": model}


def tokens(text):
    """The answer's tokens as the scripted model emits them: words with the spaces after them
    (and any leading spaces), so joining them gives the text back exactly."""
    return re.findall(r"\S+\s*|\s+", text or "")


def stream(ctx, content, delay=0.0):
    """Publishes the answer's tokens, in order, to the workflow's stream (name "token", event
    {"token": ...}), each awaited: `keel workflow follow agent-demo` prints them as they come.
    A retried call publishes its tokens again under its own attempt (events carry taskId and
    attempt), so a follower keeps the tokens of the attempt that completed. Tool-call turns have
    no content and publish nothing; a call made directly (activity/call, no workflow) has no
    stream."""
    publish = publisher(ctx)
    for token in tokens(content):
        publish(token)
        if delay:
            time.sleep(delay)


def publisher(ctx):
    """A function publishing one token of the answer (nothing outside a workflow)."""
    def publish(token):
        if token and ctx.workflow_id:
            ctx.publish_sync({"token": token}, name="token")
    return publish


# The remote model

def remote(input, publish=lambda token: None):
    """Asks the endpoint with "stream": true and publishes each piece of the answer's text as it
    arrives (server-sent events); an endpoint that answers with one JSON body instead is read
    whole and its text published then."""
    url = os.environ["KEEL_LLM_URL"].rstrip("/")
    if not url.endswith("/chat/completions"):
        url += "/chat/completions"
    body = {"model": os.environ.get("KEEL_LLM_MODEL", "gpt-4o-mini"), "messages": input["messages"], "stream": True}
    if input.get("tools"):
        body["tools"] = input["tools"]
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {os.environ['KEEL_LLM_KEY']}"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            if "text/event-stream" in (response.headers.get("Content-Type") or ""):
                return streamed(response, publish)
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read()[:500].decode("utf-8", "replace")
        if error.code == 429 or error.code >= 500:
            raise keel.ActivityError(f"{error.code} from the model endpoint: {detail}", type="RateLimited" if error.code == 429 else "ModelUnavailable",
                                     retryable=True, retry_after=retry_after(error.headers.get("Retry-After")), details={"status": error.code}) from None
        raise keel.ActivityError(f"{error.code} from the model endpoint: {detail}", type="ModelRequestRejected", retryable=False, details={"status": error.code}) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise keel.ActivityError(f"model endpoint unreachable: {error}", type="ModelUnreachable", retryable=True) from None
    message = answer["choices"][0]["message"]
    out = {"role": "assistant", "content": message.get("content")}
    if message.get("tool_calls"):
        out["tool_calls"] = [{"id": c["id"], "type": "function", "function": {"name": c["function"]["name"], "arguments": c["function"].get("arguments") or "{}"}}
                             for c in message["tool_calls"]]
    for token in tokens(out["content"]):
        publish(token)
    return out


def streamed(response, publish):
    """The assistant message from a chat-completions event stream (`data: {chunk}` lines, then
    `data: [DONE]`): content deltas are published as they come and joined; tool-call deltas are
    merged by index (the id and name come first, the arguments in pieces)."""
    content, calls = [], {}
    for raw in response:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        for choice in json.loads(data).get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                content.append(delta["content"])
                publish(delta["content"])
            for call in delta.get("tool_calls") or []:
                merged = calls.setdefault(call.get("index", 0), {"id": None, "name": "", "arguments": ""})
                merged["id"] = call.get("id") or merged["id"]
                function = call.get("function") or {}
                merged["name"] += function.get("name") or ""
                merged["arguments"] += function.get("arguments") or ""
    out = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        out["tool_calls"] = [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"] or "{}"}}
                             for _, c in sorted(calls.items())]
    return out


def retry_after(value):
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


# The scripted model: deterministic, offline, good at exactly this example's kind of question.

def scripted(messages):
    question = next(m["content"] for m in messages if m.get("role") == "user")
    turn = sum(m.get("role") == "assistant" for m in messages) + 1
    results = tool_results(messages)
    plan = plan_for(question)
    if turn == 1:
        first = [(name, args) for name, args in plan if name != "email_send"]
        if first:
            return calls(turn, first)
    email = [(name, args) for name, args in plan if name == "email_send"]
    if email and "email_send" not in results:
        _, args = email[0]
        args = dict(args, body=summary(results))
        return calls(turn, [("email_send", args)])
    return {"role": "assistant", "content": final_answer(results)}


def calls(turn, planned):
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": f"call_{turn}_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args, sort_keys=True)}}
        for i, (name, args) in enumerate(planned, 1)]}


def tool_results(messages):
    """{function name: parsed result} from the conversation (the last result of each wins)."""
    names = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            names[call["id"]] = call["function"]["name"]
    results = {}
    for message in messages:
        if message.get("role") == "tool" and message.get("tool_call_id") in names:
            try:
                results[names[message["tool_call_id"]]] = json.loads(message.get("content") or "null")
            except ValueError:
                results[names[message["tool_call_id"]]] = {"error": message.get("content")}
    return results


_CITY = re.compile(r"\b(?:in|to|at|for) ([A-Z][a-zA-Z]+(?: [A-Z][a-zA-Z]+)?)")
_EXPRESSION = re.compile(r"[\d.(]+(?:\s*[-+*/^%]\s*[\d.()]+)+\)?")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_STOP = set("a an and are as at be by check docs document documents for from how i in is it me my of on or our please say search "
            "should the then to us we what when where which who with you your".split())


def plan_for(question):
    """The tool calls the question asks for, in a fixed order."""
    plan = []
    cities = [c for c in _CITY.findall(question) if c.split()[0] not in ("Then", "The", "Our")]
    city = cities[0] if cities else "Lisbon"
    if re.search(r"weather|temperature|forecast|rain", question, re.I):
        plan.append(("weather_lookup", {"city": city}))
    if re.search(r"\btime\b|\bclock\b|\bdate\b", question, re.I):
        plan.append(("time_now", {"city": city}))
    for expression in _EXPRESSION.findall(question):
        plan.append(("calc_evaluate", {"expression": expression.strip()}))
    policy = re.search(r"([^.;?!,]*\b(?:polic\w*|handbook|docs|documents?|rules?)\b[^.;?!,]*)", question, re.I)
    if policy:
        words = [w for w in re.findall(r"[a-zA-Z]+", policy.group(1).lower()) if w not in _STOP and len(w) > 2]
        plan.append(("docs_search", {"query": " ".join(dict.fromkeys(words)), "limit": 2}))
    if re.search(r"\bhistory\b|\blast chang|\bgit log\b", question, re.I):
        plan.append(("docs_history", {"max_count": 5}))
    address = _EMAIL.search(question)
    if address and re.search(r"\be-?mail|\bsend\b", question, re.I):
        plan.append(("email_send", {"to": address.group(0), "subject": f"Trip notes: {city}"}))
    return plan


def summary(results):
    """Plain-text lines about each result (the email body and the answer share them)."""
    lines = []
    weather = results.get("weather_lookup")
    if isinstance(weather, dict) and "error" not in weather:
        lines.append(f"Weather in {weather.get('city')}: {weather.get('conditions')}, {weather.get('temperatureC')} °C.")
    clock = results.get("time_now")
    if isinstance(clock, dict) and "error" not in clock:
        lines.append(f"Local time in {clock.get('city')}: {clock.get('localTime')} ({clock.get('timezone')}).")
    calc = results.get("calc_evaluate")
    if isinstance(calc, dict) and "error" not in calc:
        lines.append(f"{calc.get('expression')} = {calc.get('value'):,.2f}.")
    docs = results.get("docs_search")
    if isinstance(docs, dict) and docs.get("hits"):
        hit = docs["hits"][0]
        lines.append(f"From {hit.get('file')}: \"{best_sentence(hit.get('passage', ''), docs.get('query', ''))}\"")
    change = last_policy_change(results.get("docs_history"))
    if change:
        lines.append(f"The travel policy last changed on {change['date']} (commit {change['commit'][:7]}, {change['author']}): "
                     f"\"{change['message']}\"")
    for name, result in sorted(results.items()):
        if isinstance(result, dict) and "error" in result and name != "email_send":
            lines.append(f"({name} failed: {result['error']})")
    return "\n".join(lines) or "Nothing to report."


def last_policy_change(history):
    """The newest commit about a policy in a `docs_history` result: mcp-server-git's git_log, as
    the MCP bridge returns a tool without an output schema ({content: [{type: text, text}]}),
    whose text is "Commit history:" then blocks of "Commit: …", "Author: …", "Date: …", "Message: …"."""
    if not isinstance(history, dict) or "error" in history:
        return None
    text = "".join(block.get("text", "") for block in history.get("content") or [] if isinstance(block, dict))
    commits = []
    for block in text.split("Commit: ")[1:]:
        fields = dict(re.findall(r"^(Author|Date|Message): (.*)$", block, re.M))
        commits.append({"commit": block.split("\n", 1)[0].strip(), "author": fields.get("Author", "").strip(),
                        "date": fields.get("Date", "")[:10], "message": fields.get("Message", "").strip()})
    return next((c for c in commits if re.search(r"polic", c["message"], re.I)), commits[0] if commits else None)


def best_sentence(passage, query):
    """The sentence of ``passage`` sharing the most words with ``query`` (the first on a tie)."""
    wanted = set(re.findall(r"[a-z]+", query.lower()))
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", passage) if s.strip()]
    return max(sentences, key=lambda s: len(wanted & set(re.findall(r"[a-z]+", s.lower()))), default=passage)


def final_answer(results):
    text = summary(results)
    email = results.get("email_send")
    if isinstance(email, dict):
        if email.get("sent"):
            text += f"\nEmailed the summary to {email.get('to')}."
        else:
            text += f"\nDid not send the email: {email.get('error', 'not sent')}."
    return text


def side_effect(tool, ctx, input, output):
    """Appends one JSON line per performed call (one write, O_APPEND: lines never interleave)."""
    line = json.dumps({"tool": tool, "idempotencyKey": ctx.idempotency_key, "attempt": ctx.attempt, "workflowId": ctx.workflow_id,
                       "pid": os.getpid(), "atMs": int(time.time() * 1000), "input": input, "output": output}) + "\n"
    os.makedirs(os.path.dirname(LOG), exist_ok=True)
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--think-ms", type=int, default=0, help="scripted model latency per call")
    parser.add_argument("--rate-limit-first-call", action="store_true", help="simulate a 429 on the first call's first attempt")
    options = parser.parse_args()
    worker.run_sync()
