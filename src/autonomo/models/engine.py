"""One llama.cpp context that decodes many sequences together: the embedded model's inference engine.

Every agent of a process (K attempts, engineers, reviewer, planner, QA) submits its generations here. A scheduler
thread keeps up to ``sequences`` of them in flight and advances all of them with one ``llama_decode`` per step
(continuous batching: a request joins and leaves between steps; a long prompt is evaluated in chunks beside the
others' decoding). Each sequence has its own KV stream, sampler, grammar, seed and stops.

Why it is built this way (measured on the 2-core dev machine, Qwen2.5-Coder-1.5B Q4_K_M; BENCHMARKS.md):
- An agent evaluates 1.7 prompt tokens per token it generates (the recorded Exercism run), at ~75-100 tokens/s
  against ~22 decoded, and K samples of a task share their prompt. A new request therefore starts from the slot
  holding the longest prefix of its prompt (its own previous step, or a sibling sample's prompt, copied stream to
  stream), and a request whose prompt a sibling is still evaluating waits for it instead of evaluating it again.
- Decoding here is compute-bound, not bandwidth-bound: 4 sequences in one batch cost ~3x one, so batching alone
  gains ~1.1-1.4x. For the same reason prompt-lookup drafts (verified exactly, so they change speed, not what is
  sampled) pay only where the reply copies its prompt and are off unless asked for.
- The grammar is checked on the best 40 tokens first and applied to the whole 151,936-token vocabulary only when
  none of them fits.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autonomo.models.base import ContextOverflow, ModelError, ModelSpecError

TOP_K, TOP_P, MIN_P = 40, 0.95, 0.05  # llama-cpp-python's defaults, which every recorded run sampled with
DRAFT_NGRAM = (4, 3, 2)  # the longest recent n-gram that recurs proposes what followed it
TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)


@dataclass
class Request:
    """One generation: prompt tokens in, text out. The scheduler fills in the result fields."""

    tokens: list[int]
    max_tokens: int
    temperature: float = 0.0
    seed: int = 0
    grammar: str | None = None
    stop: tuple[str, ...] = ()
    draft: int = 0  # prompt-lookup draft tokens per step (0: none)
    margins: list[float] | None = None  # a list to get each greedy token's lead over the runner-up, in logits
    # results
    text: str = ""
    finish: str = ""
    generated: list[int] = field(default_factory=list)
    evaluated: int = 0  # prompt tokens this request evaluated (the rest came from a cache)
    drafted: int = 0
    accepted: int = 0
    seconds: float = 0.0  # from joining a slot to the end
    first_token_seconds: float = 0.0  # from joining a slot to the first token: the prompt's evaluation
    started: float = 0.0
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class _Slot:
    """One sequence of the context: its KV stream holds exactly ``kv`` (the tokens evaluated into it)."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.kv: list[int] = []
        self.request: Request | None = None
        self.pending: list[int] = []  # tokens to evaluate next (the prompt's rest, or the last sampled token + drafts)
        self.rng: np.random.Generator | None = None
        self.grammar: Any = None  # llama_sampler_p
        self.text = b""
        self.used = 0.0  # last time a request finished here (the least recently used slot is reused first)


def _common(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    x, y = np.asarray(a[:n]), np.asarray(b[:n])
    diff = np.flatnonzero(x != y)
    return int(diff[0]) if diff.size else n


class Engine:
    def __init__(
        self,
        path: Path,
        *,
        sequences: int = 4,
        n_ctx: int = 16384,
        n_batch: int = 512,
        n_threads: int | None = None,
    ) -> None:
        import llama_cpp as L

        self.L = L
        if not path.is_file():
            raise ModelSpecError(f"GGUF file not found: {path}")
        L.llama_backend_init()
        L.llama_log_set(_quiet, ctypes.c_void_p(0))
        params = L.llama_model_default_params()
        self.model = L.llama_model_load_from_file(str(path).encode(), params)
        if not self.model:
            raise ModelSpecError(f"cannot load {path}: not a GGUF llama.cpp can read")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.n_ctx = n_ctx  # per sequence
        self.n_batch = n_batch
        cp = L.llama_context_default_params()
        cp.n_ctx = n_ctx * sequences
        cp.n_batch = cp.n_ubatch = n_batch
        cp.n_seq_max = sequences
        cp.n_threads = cp.n_threads_batch = n_threads or os.cpu_count() or 1
        cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_ENABLED  # measured: 35 vs 31 tokens/s at 4 sequences
        # A stream per sequence: its cells are its own, so what it computes does not depend on where others sit.
        cp.kv_unified = False
        self.ctx = L.llama_init_from_model(self.model, cp)
        if not self.ctx:
            L.llama_model_free(self.model)
            raise ModelSpecError(f"cannot create a llama.cpp context for {path}")
        self.memory = L.llama_get_memory(self.ctx)
        self.batch = L.llama_batch_init(n_batch, 0, 1)
        self.slots = [_Slot(i) for i in range(sequences)]
        self.queue: deque[Request] = deque()
        self.cond = threading.Condition()
        self.closed = False
        self.broken: BaseException | None = None
        self.steps = 0
        self.most_in_step = 0  # the most sequences one decode step has served (tests read it)
        self._thread = threading.Thread(target=self._serve, name="autonomo-engine", daemon=True)
        self._thread.start()

    # ---- vocabulary ----
    def metadata(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = self.L.llama_model_meta_val_str(self.model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        data = text.encode("utf-8")
        room = len(data) + 16
        buf = (self.L.llama_token * room)()
        n = self.L.llama_tokenize(self.vocab, data, len(data), buf, room, add_bos, True)
        if n < 0:
            raise ModelError(f"cannot tokenize a prompt of {len(data)} bytes")
        return list(buf[:n])

    def piece(self, token: int, special: bool = False) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self.L.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        return buf.raw[: max(n, 0)]

    @property
    def bos(self) -> int:
        return self.L.llama_vocab_bos(self.vocab)

    @property
    def eos(self) -> int:
        return self.L.llama_vocab_eos(self.vocab)

    # ---- requests ----
    def generate(self, request: Request) -> Request:
        """Runs one request to its end (blocking); raises what went wrong with it."""
        if len(request.tokens) + request.max_tokens > self.n_ctx:
            raise ContextOverflow(f"prompt of {len(request.tokens)} tokens leaves no room in a {self.n_ctx} context")
        with self.cond:
            if self.closed or self.broken:
                raise ModelError(f"the local inference engine is stopped{f': {self.broken}' if self.broken else ''}")
            self.queue.append(request)
            self.cond.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request

    def clear(self) -> None:
        """Forgets every cached prefix (waits for requests in flight)."""
        with self.cond:
            while self.queue or any(s.request for s in self.slots):
                self.cond.wait(0.05)
            for slot in self.slots:
                self.L.llama_memory_seq_rm(self.memory, slot.seq, -1, -1)
                slot.kv = []

    def close(self) -> None:
        with self.cond:
            if self.closed:
                return
            self.closed = True
            self.cond.notify_all()
        self._thread.join()
        self.L.llama_batch_free(self.batch)
        self.L.llama_free(self.ctx)
        self.L.llama_model_free(self.model)

    # ---- the scheduler ----
    def _serve(self) -> None:
        while True:
            with self.cond:
                while not self.closed and not self.queue and not any(s.request for s in self.slots):
                    self.cond.wait()
                if self.closed:
                    self._fail_all(ModelError("the local inference engine was closed"))
                    return
                self._admit()
            try:
                self._step()
            except Exception as exc:  # a bug or a llama.cpp failure: fail what is in flight, keep no half state
                with self.cond:
                    self.broken = exc
                    self._fail_all(ModelError(f"local generation failed: {exc}"))
                return

    def _fail_all(self, error: BaseException) -> None:
        for slot in self.slots:
            if slot.request:
                self._finish(slot, error=error)
        while self.queue:
            request = self.queue.popleft()
            request.error = error
            request.done.set()

    def _admit(self) -> None:
        """Moves queued requests into free slots, each starting from the longest cached prefix of its prompt."""
        waiting: deque[Request] = deque()
        while self.queue:
            request = self.queue.popleft()
            free = [s for s in self.slots if s.request is None]
            if not free:
                waiting.append(request)
                continue
            # what is cached now, in any slot (a busy slot's stream can be copied too)
            common = {s.seq: _common(s.kv, request.tokens) for s in self.slots}
            source = max(self.slots, key=lambda s: common[s.seq])
            cached = common[source.seq]
            # A sibling still evaluating the same prompt will hold it soon: wait for it rather than pay for it twice.
            # Waiting costs nothing here: prompt tokens cost the same evaluated together or one after the other.
            soon = max((_common(s.request.tokens, request.tokens) for s in self.slots if s.request and s.pending
                        and len(s.kv) < len(s.request.tokens)), default=0)  # fmt: skip
            if soon > cached + 16:
                waiting.append(request)
                continue
            own = max(free, key=lambda s: (common[s.seq], -s.used))
            if cached > common[own.seq]:
                self.L.llama_memory_seq_rm(self.memory, own.seq, -1, -1)
                self.L.llama_memory_seq_cp(self.memory, source.seq, own.seq, -1, -1)  # a whole stream: all it can
                own.kv = list(source.kv)
            keep = min(cached, len(request.tokens) - 1)  # the last token gives the logits
            self.L.llama_memory_seq_rm(self.memory, own.seq, keep, -1)
            own.kv = own.kv[:keep]
            own.request, own.pending, own.text = request, request.tokens[keep:], b""
            request.evaluated = len(own.pending)
            request.started = time.monotonic()
            own.rng = np.random.default_rng(request.seed)
            own.grammar = None
            if request.grammar:
                own.grammar = self.L.llama_sampler_init_grammar(self.vocab, request.grammar.encode(), b"root")
                if not own.grammar:
                    self._finish(own, error=ModelError("the tool-call grammar does not parse"))
        self.queue = waiting

    def _step(self) -> None:
        L, batch = self.L, self.batch
        entries: list[tuple[_Slot, int, bool]] = []  # (slot, token, wants logits)
        fed: dict[_Slot, list[int]] = {}  # what each slot puts into this step
        room = self.n_batch
        # decoding sequences first (one token each, plus drafts), then prompt chunks in the room left
        busy = sorted((s for s in self.slots if s.request and s.pending),
                      key=lambda s: len(s.kv) < len(s.request.tokens))  # fmt: skip
        for slot in busy:
            if room <= 0:
                break
            prompt = len(slot.kv) < len(slot.request.tokens)
            take = fed[slot] = slot.pending[:room]
            for i, token in enumerate(take):
                last = i == len(take) - 1
                entries.append((slot, token, (not prompt) or (last and len(take) == len(slot.pending))))
            room -= len(take)
        if not entries:
            return
        batch.n_tokens = len(entries)
        position = {slot: len(slot.kv) for slot in fed}
        for i, (slot, token, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = position[slot]
            position[slot] += 1
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = slot.seq
            batch.logits[i] = logits
        status = L.llama_decode(self.ctx, batch)
        self.steps += 1
        self.most_in_step = max(self.most_in_step, len(fed))
        if status != 0:
            for slot in fed:
                L.llama_memory_seq_rm(self.memory, slot.seq, len(slot.kv), -1)
                self._finish(slot, error=ModelError(f"llama_decode failed with status {status}"))
            return
        # the batch rows of each slot's logits
        rows: dict[_Slot, list[int]] = {}
        for i, (slot, _, logits) in enumerate(entries):
            if logits:
                rows.setdefault(slot, []).append(i)
        for slot, tokens in fed.items():
            slot.kv += tokens
            slot.pending = slot.pending[len(tokens) :]
            if slot in rows:
                self._advance(slot, tokens, rows[slot])

    def _advance(self, slot: _Slot, fed: list[int], rows: list[int]) -> None:
        """Samples from the logits of a step: one token, or, when drafts were fed, as many as agree with them."""
        request = slot.request
        assert request is not None
        if not request.generated:
            request.first_token_seconds = time.monotonic() - request.started
        drafts = fed[1:] if len(rows) > 1 else []  # rows[j] scores the token after fed[j]
        request.drafted += len(drafts)
        for j, row in enumerate(rows):
            token = self._sample(slot, row, drafts[j] if j < len(drafts) else None)
            request.generated.append(token)
            stopped = self._emit(slot, token)
            if stopped or j >= len(drafts) or token != drafts[j]:
                if j < len(drafts) and token == drafts[j]:
                    request.accepted += 1
                # drafts after the first disagreement were evaluated for nothing: drop them from the stream
                keep = len(slot.kv) - (len(rows) - 1 - j)
                self.L.llama_memory_seq_rm(self.memory, slot.seq, keep, -1)
                del slot.kv[keep:]
                if stopped:
                    return
                slot.pending = [token, *self._draft(slot)]
                return
            request.accepted += 1

    def _sample(self, slot: _Slot, row: int, draft: int | None) -> int:
        """One token from a row of logits, under the request's temperature and grammar. A draft token is kept with
        its probability, else the token is drawn from the rest (speculative sampling: the same distribution)."""
        request = slot.request
        logits = np.ctypeslib.as_array(self.L.llama_get_logits_ith(self.ctx, row), shape=(self.n_vocab,))
        top = np.argpartition(-logits, TOP_K)[:TOP_K]
        top = self._allowed(slot, top[np.argsort(-logits[top], kind="stable")], logits)
        if request.temperature <= 0:
            if request.margins is not None:
                request.margins.append(float(logits[top[0]] - logits[top[1]]) if len(top) > 1 else 1e9)
            return int(top[0])
        z = logits[top].astype(np.float64)
        p = np.exp(z - z[0])
        p /= p.sum()
        keep = int(np.searchsorted(np.cumsum(p), TOP_P) + 1)  # top-p, then min-p, on the untempered distribution
        keep = max(1, min(keep, int((p >= MIN_P * p[0]).sum())))
        top, z = top[:keep], z[:keep]
        q = np.exp((z - z[0]) / request.temperature)
        q /= q.sum()
        if draft is not None:
            where = np.flatnonzero(top == draft)
            if where.size and slot.rng.random() < q[where[0]]:
                return draft
            if where.size and keep > 1:
                q[where[0]] = 0.0
                q /= q.sum()
        return int(top[slot.rng.choice(len(top), p=q)])

    def _allowed(self, slot: _Slot, order: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """The tokens of ``order`` the grammar accepts next, best first; the whole vocabulary's best allowed ones
        when none of ``order`` is (so the grammar costs a check of ~40 tokens, not of 151,936, on most steps)."""
        if slot.grammar is None:
            return order
        ok = self._check(slot, order, logits)
        if ok.size:
            return ok
        everything = np.argsort(-logits, kind="stable")
        ok = self._check(slot, everything, logits)
        if not ok.size:
            raise ModelError("the grammar allows no token here")
        return ok[:TOP_K]

    def _check(self, slot: _Slot, tokens: np.ndarray, logits: np.ndarray) -> np.ndarray:
        cand = np.zeros(len(tokens), dtype=TOKEN_DATA)
        cand["id"] = tokens
        cand["logit"] = logits[tokens]
        array = self.L.llama_token_data_array(
            data=cand.ctypes.data_as(self.L.llama_token_data_p), size=len(tokens), selected=-1, sorted=False
        )
        self.L.llama_sampler_apply(slot.grammar, ctypes.byref(array))
        return tokens[np.isfinite(cand["logit"])]

    def _emit(self, slot: _Slot, token: int) -> bool:
        """Takes a sampled token into the reply; True when the request is over."""
        request = slot.request
        if slot.grammar is not None:
            self.L.llama_sampler_accept(slot.grammar, token)
        if self.L.llama_vocab_is_eog(self.vocab, token):
            self._finish(slot, finish="stop")
            return True
        slot.text += self.piece(token)
        if request.stop:
            text = slot.text.decode("utf-8", "ignore")
            cut = min((i for i in (text.find(s) for s in request.stop) if i >= 0), default=-1)
            if cut >= 0:
                slot.text = text[:cut].encode()
                self._finish(slot, finish="stop")
                return True
        if len(request.generated) >= request.max_tokens:
            self._finish(slot, finish="length")
            return True
        return False

    def _draft(self, slot: _Slot) -> list[int]:
        """Prompt lookup: the tokens that followed the latest earlier occurrence of the sequence's last n-gram."""
        request = slot.request
        budget = min(request.draft, request.max_tokens - len(request.generated) - 1)
        if budget <= 0:
            return []
        seq = np.asarray(slot.kv + [request.generated[-1]])
        for n in DRAFT_NGRAM:
            if len(seq) <= n:
                continue
            tail = seq[-n:]
            hits = np.ones(len(seq) - n, dtype=bool)
            for k in range(n):
                hits &= seq[k : len(seq) - n + k] == tail[k]
            where = np.flatnonzero(hits)
            if where.size:
                start = int(where[-1]) + n
                return seq[start : start + budget].tolist()
        return []

    def _finish(self, slot: _Slot, *, finish: str = "", error: BaseException | None = None) -> None:
        request = slot.request
        if request is None:
            return
        if slot.grammar is not None:
            self.L.llama_sampler_free(slot.grammar)
            slot.grammar = None
        request.text = slot.text.decode("utf-8", "replace")
        request.finish, request.error = finish, error
        request.seconds = time.monotonic() - request.started
        slot.request, slot.pending, slot.used = None, [], time.monotonic()
        request.done.set()


@ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
def _quiet(level: int, text: bytes, data: Any) -> None:
    """llama.cpp logs every load and context to stderr; errors still reach the caller as return codes."""
