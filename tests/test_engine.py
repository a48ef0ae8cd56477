"""The embedded model's inference engine (models/engine.py): batched decoding, shared prompts, grammar, drafts."""

from __future__ import annotations

import importlib.util
import threading

import pytest

from autonomo.models.base import ContextOverflow

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs the [local] extra"),
]

# Batched and unbatched decoding take different kernels (a 4-column GEMM or a GEMV per column, one KV stream or
# several), which moved the logits by up to 0.44 here: two tokens closer than this may swap places.
FLOAT_NOISE = 0.5

PROMPTS = [
    "Write a Python function that checks whether a number is prime.",
    "List three uses of a hash map, one line each.",
    "Write a haiku about unit tests.",
]


@pytest.fixture(scope="module")
def model():
    from autonomo.models import load_model

    return load_model("local")


def run_traced(model, prompt: str, tokens: int = 40):
    from autonomo.models.engine import Request

    rendered = model.formatter(messages=[{"role": "user", "content": prompt}])
    request = Request(tokens=model.engine.tokenize(rendered.prompt), max_tokens=tokens, margins=[],
                      draft=model.draft)  # fmt: skip
    return model.engine.generate(request)


def agree(alone, batched) -> bool:
    """The same tokens, or the same up to a token the unbatched run chose by less than float noise."""
    a, b = alone.generated, batched.generated
    split = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if split is None:
        return len(a) == len(b) or alone.finish == batched.finish == "stop"
    return alone.margins[split] < FLOAT_NOISE


def test_batched_greedy_decoding_equals_unbatched_but_for_float_noise(model):
    alone = [run_traced(model, p) for p in PROMPTS]
    model.engine.most_in_step = 0
    together: dict[int, object] = {}
    threads = [threading.Thread(target=lambda i=i: together.update({i: run_traced(model, PROMPTS[i])}))
               for i in range(len(PROMPTS))]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert model.engine.most_in_step >= 2  # they were decoded in one batch
    assert all(agree(alone[i], together[i]) for i in range(len(PROMPTS)))


def test_k_samples_of_one_prompt_evaluate_it_once(model):
    model.engine.clear()
    # K samples sent at once, in whatever order the threads reach the engine
    messages = [{"role": "user", "content": PROMPTS[0] + " Explain each step, then give two examples of its use."}]
    replies: list = []
    lock = threading.Lock()

    def sample(seed: int) -> None:
        reply = model.request(messages, temperature=0.7, seed=seed, max_tokens=24)
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=sample, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    prompt = len(replies[0].tokens)
    # the first evaluates the prompt; the others copy its KV stream and evaluate only the last token, for logits
    assert sum(r.evaluated for r in replies) == prompt + 3
    assert len({tuple(r.generated) for r in replies}) >= 2  # each sampled with its own seed


def test_every_sampled_reply_is_a_valid_tool_call(model, workspace):
    """The grammar is checked on the sampled token first: replies still parse, hot or greedy."""
    from autonomo.computer.sandbox import Sandbox
    from autonomo.computer.tools import ComputerTools

    body = ComputerTools(Sandbox(workspace, kind="none"))
    messages = [
        {"role": "system", "content": body.system_prompt},
        {"role": "user", "content": "Goal: write fizzbuzz.py that prints FizzBuzz up to 15.\n\nWorkspace files:\n"},
    ]
    for temperature, seed in ((0.0, 0), (1.0, 1), (1.5, 2)):
        reply = model.complete(messages, body.specs, temperature=temperature, seed=seed, max_tokens=200)
        (call,) = reply.tool_calls
        assert call.error is None, (temperature, reply.text)


def test_drafts_change_the_steps_not_the_greedy_reply(model):
    from autonomo.bench.inference import rewrite_prompt

    prompt = rewrite_prompt()
    plain = run_traced(model, prompt, tokens=60)
    model.draft = 8
    try:
        drafted = run_traced(model, prompt, tokens=60)
    finally:
        model.draft = 0
    assert drafted.accepted > 20  # the reply copies the file it was given
    assert agree(plain, drafted)


def test_a_prompt_too_long_is_refused_and_the_engine_serves_on(model):
    from autonomo.models.engine import Request

    with pytest.raises(ContextOverflow):
        model.engine.generate(Request(tokens=[1] * model.engine.n_ctx, max_tokens=8))
    assert model.complete([{"role": "user", "content": "Say ok."}], max_tokens=4).text
