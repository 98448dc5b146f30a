"""What `conflicts` computes for pairs of commits, kept across runs: whether two commits merge (and in
which files they conflict) and how many lines a task changed never change for the same commits, so a
run computes only the pairs whose tips or bases moved since (as status's merge checks do per task)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dispatch import files, jsontext
from dispatch.repo import Repo
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

_FILE = "pair-merges.json"
_KEEP_OTHERS = 512  # entries kept beyond those of this run: tasks come back, a subset's run drops no other's


class PairCache:
    def __init__(self, repo: Repo) -> None:
        self._path = repo.state_dir / _FILE
        try:
            data: Any = jsontext.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        ok = isinstance(data, dict) and data.get("version") == 1
        self._kinds: dict[str, dict[str, Any]] = {kind: dict(data.get(kind) or {}) if ok else {}
                                                  for kind in ("conflicts", "sizes")}
        self._used: dict[str, list[str]] = {kind: [] for kind in self._kinds}
        self._changed = False

    def get(self, kind: str, pairs: Sequence[tuple[str, str]],
            compute: Callable[[list[tuple[str, str]]], list[Any]]) -> list[Any]:
        """The values of KIND for PAIRS: those kept, and COMPUTE's for the rest (one call for all of them)."""
        known = self._kinds[kind]
        keys = [f"{a} {b}" for a, b in pairs]
        missing = [(key, pair) for key, pair in zip(keys, pairs, strict=True) if key not in known]
        if missing:
            known.update(zip([key for key, _ in missing], compute([pair for _, pair in missing]), strict=True))
            self._changed = True
        self._used[kind] += keys
        return [known[key] for key in keys]

    def save(self) -> None:
        """Write back what this run added, with what it used last; a full disk costs only a recount."""
        if not self._changed:
            return
        kept = {}
        for kind, known in self._kinds.items():
            used = dict.fromkeys(self._used[kind])
            others = [key for key in known if key not in used][-_KEEP_OTHERS:]
            kept[kind] = {key: known[key] for key in [*others, *used]}
        import json

        try:
            files.write_atomic(self._path, json.dumps({"version": 1, **kept}))
        except OSError:
            pass
