"""The OpenAI-compatible test server (tests/helpers/openai_server.py), driven by the real openai client."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from tests.helpers.openai_server import DEFAULTS, Server, start_server

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]


@pytest.fixture(scope="module")
def running() -> Server:
    with start_server() as server:
        yield server


@pytest.fixture
def server(running: Server) -> Server:
    """The module's server with default settings and fresh counters (one process: starting one costs ~0.2 s)."""
    running.configure(**DEFAULTS)
    running.reset()
    return running


def client(server: Server, api_key: str = "test") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0)


def ask(server: Server, **options) -> openai.types.chat.ChatCompletion:
    options.setdefault("messages", MESSAGES)
    return client(server).chat.completions.create(model="m", **options)


def test_replays_real_responses(server: Server, shared_data) -> None:
    traces = shared_data / "math" / "traces"
    math = json.loads((traces / "qwen25math_math_cot_100x8.jsonl").read_text().splitlines()[3])
    gsm8k = json.loads((traces / "gsm8k_gpt3_solutions.jsonl").read_text().splitlines()[0])
    server.configure(replay=[str(traces / "qwen25math_math_cot_100x8.jsonl"), str(traces / "gsm8k_gpt3_solutions.jsonl")])

    prompt = f"Solve the problem.\n\n{math['question']}\n\nPut the final answer in \\boxed{{}}."
    reply = ask(server, messages=[{"role": "user", "content": prompt}], seed=5)
    assert reply.choices[0].message.content == math["response"][5]
    assert reply.choices[0].message.content.rstrip().endswith("}.") and "\\boxed{" in reply.choices[0].message.content
    assert reply.usage.completion_tokens == len(math["response"][5]) // 4 + 1

    reply = ask(server, messages=[{"role": "user", "content": gsm8k["question"]}], seed=1)
    assert reply.choices[0].message.content == gsm8k["6b_verification"]["solution"]


def test_synthetic_responses_are_deterministic(server: Server) -> None:
    first, again = ask(server, seed=7), ask(server, seed=7)
    assert first.choices[0].message.content == again.choices[0].message.content
    assert "\\boxed{" in first.choices[0].message.content
    assert ask(server, seed=8).choices[0].message.content != first.choices[0].message.content


def test_n_choices_and_counting_by_keys(server: Server) -> None:
    reply = ask(server, n=3, extra_headers={"X-Curate-Keys": "a,b,c"})
    assert [choice.index for choice in reply.choices] == [0, 1, 2]
    assert len({choice.message.content for choice in reply.choices}) == 3
    assert reply.object == "chat.completion" and reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

    server.configure(fail_keys={"d": "500"})
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask(server, extra_headers={"X-Curate-Keys": "d"})
    ask(server)  # no header: the key is a hash of the body

    stats = server.stats()
    assert stats["requests"] == 4 and stats["by_status"] == {"200": 2, "500": 2}
    assert {key: stats["keys"][key] for key in "abcd"} == {
        "a": {"attempts": 1, "ok": 1}, "b": {"attempts": 1, "ok": 1}, "c": {"attempts": 1, "ok": 1}, "d": {"attempts": 2, "ok": 0}}
    assert len(stats["keys"]) == 5 and stats["faults"] == {"500": 2}


def test_429_carries_retry_after_and_faults_are_capped_per_key(server: Server) -> None:
    server.configure(faults={"429": 1.0}, retry_after="7", max_faults_per_key=2)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as error:
            ask(server, extra_headers={"X-Curate-Keys": "k"})
        assert error.value.response.headers["retry-after"] == "7"
        assert error.value.body["message"]
    assert ask(server, extra_headers={"X-Curate-Keys": "k"}).choices[0].finish_reason == "stop"
    assert server.stats()["keys"]["k"] == {"attempts": 3, "ok": 1}


def test_malformed_body_and_disconnect_make_the_client_raise(server: Server) -> None:
    server.configure(faults={"malformed": 1.0})
    with pytest.raises(json.JSONDecodeError):
        ask(server)
    server.configure(faults={"disconnect": 1.0})
    with pytest.raises(openai.APIConnectionError):
        ask(server, seed=1)
    assert server.stats()["faults"] == {"malformed": 1, "disconnect": 1}


def test_length_fault_truncates(server: Server) -> None:
    full = ask(server, seed=3).choices[0]
    server.configure(faults={"length": 1.0})
    cut = ask(server, seed=3).choices[0]
    assert cut.finish_reason == "length" and full.finish_reason == "stop"
    assert full.message.content.startswith(cut.message.content)
    assert 0.2 < len(cut.message.content) / len(full.message.content) < 0.4


@pytest.mark.parametrize("mode", ["none", "field", "think"])
def test_reasoning_modes(server: Server, mode: str) -> None:
    text = ask(server, seed=4).choices[0].message.content
    reasoning, _, answer = text.rpartition("\n\n")
    server.configure(reasoning=mode)
    message = ask(server, seed=4).choices[0].message
    if mode == "none":
        assert message.content == text and getattr(message, "reasoning_content", None) is None
    elif mode == "field":
        assert (message.reasoning_content, message.content) == (reasoning, answer)
    else:
        assert message.content == f"<think>{reasoning}</think>\n\n{answer}"


def test_auth(server: Server) -> None:
    server.configure(api_key="sesame")
    with pytest.raises(openai.AuthenticationError):
        client(server, api_key="wrong").chat.completions.create(model="m", messages=MESSAGES)
    assert client(server, api_key="sesame").chat.completions.create(model="m", messages=MESSAGES).choices
    assert server.stats()["auth"] == {"ok": 1, "rejected": 1}

    server.configure(api_key=None, status_always=401)
    with pytest.raises(openai.AuthenticationError):
        ask(server)


def test_latency_overlaps_requests(server: Server) -> None:
    """Latency is awaited, not slept: 200 requests of 0.3 s are all in flight at once."""
    server.configure(latency=0.3)

    async def run() -> None:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0) as aclient:
            await asyncio.gather(*(aclient.chat.completions.create(model="m", messages=MESSAGES, seed=i) for i in range(200)))

    asyncio.run(run())
    stats = server.stats()
    assert stats["by_status"] == {"200": 200} and stats["max_in_flight"] == 200 and stats["in_flight"] == 0


def test_bad_config_fails_clearly() -> None:
    with pytest.raises(RuntimeError, match=r"(?s)exited with code 1.*bad config: reasoning must be one of"):
        start_server(reasoning="loud")
