"""config set/unset and models add/rm/alias/unalias: the file edited in place, comments kept, bad input refused."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import dispatch

from dispatch.config import LISTS, SCALARS
from dispatch.config import edit as config_edit
from dispatch.errors import DispatchError

USER_TEXT = """\
# my dispatch config: hand-written, keep my notes
default_model = "opus"  # the usual one

# what lands how
merge_strategy = "merge"

# models I use
[models.sonnet]
backend = "claude"   # keep: my claude wrapper

# aliases below
[aliases.rev]
model = "opus"

# the end
"""


def user_file(home: Path) -> Path:
    return home / ".config" / "dispatch" / "config.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def ok(*args: str, cwd: Path, tmp: Path) -> str:
    r = dispatch(*args, cwd=cwd, tmp=tmp)
    assert (r.code, r.err) == (0, ""), r
    return r.out


def test_each_edit_keeps_every_comment_and_line(tmp_path: Path, hermetic: Path) -> None:
    path = write(user_file(hermetic), USER_TEXT)
    cfg = "<tmp>/home/.config/dispatch/config.toml"
    assert ok("config", "set", "default_model", "sonnet", cwd=tmp_path, tmp=tmp_path) == (
        f'set default_model = "sonnet" in {cfg}\n')
    assert ok("config", "set", "max_running", "3", cwd=tmp_path, tmp=tmp_path) == f"set max_running = 3 in {cfg}\n"
    assert ok("models", "add", "gpt-5.4", "--backend", "codex", cwd=tmp_path, tmp=tmp_path) == (
        f"added model gpt-5.4 in {cfg}: it runs on codex\n")
    assert ok("models", "alias", "rev", "--model", "sonnet", "--prompt", 'Say "why".', cwd=tmp_path, tmp=tmp_path) == (
        f"alias rev runs sonnet ({cfg})\n")
    assert ok("models", "alias", "security-reviewer", "--model", "opus", "--prompt", "OWASP only.",
              cwd=tmp_path, tmp=tmp_path) == f"alias security-reviewer runs opus ({cfg})\n"
    assert path.read_text() == textwrap.dedent("""\
        # my dispatch config: hand-written, keep my notes
        default_model = "sonnet"  # the usual one

        # what lands how
        merge_strategy = "merge"
        max_running = 3

        # models I use
        [models.sonnet]
        backend = "claude"   # keep: my claude wrapper

        # aliases below
        [aliases.rev]
        model = "sonnet"
        prompt = "Say \\"why\\"."

        # the end

        [models."gpt-5.4"]
        backend = "codex"

        [aliases.security-reviewer]
        model = "opus"
        prompt = "OWASP only."
        """)
    assert ok("models", "rm", "sonnet", cwd=tmp_path, tmp=tmp_path) == f"removed model sonnet from {cfg}\n"
    assert ok("models", "unalias", "rev", cwd=tmp_path, tmp=tmp_path) == f"removed alias rev from {cfg}\n"
    assert ok("config", "unset", "max_running", cwd=tmp_path, tmp=tmp_path) == f"removed max_running from {cfg}\n"
    assert ok("models", "alias", "security-reviewer", "--model", "sonnet", "--prompt", "",
              cwd=tmp_path, tmp=tmp_path) == f"alias security-reviewer runs sonnet ({cfg})\n"
    assert path.read_text() == textwrap.dedent("""\
        # my dispatch config: hand-written, keep my notes
        default_model = "sonnet"  # the usual one

        # what lands how
        merge_strategy = "merge"

        # models I use

        # aliases below

        # the end

        [models."gpt-5.4"]
        backend = "codex"

        [aliases.security-reviewer]
        model = "sonnet"
        """)
    # What the loader makes of it: the keys that come from this file.
    shown = [line for line in ok("config", "show", cwd=tmp_path, tmp=tmp_path).splitlines()
             if line.endswith(f"  # {cfg}")]
    assert shown == [
        f'aliases.security-reviewer.model = "sonnet"  # {cfg}',
        f'default_model = "sonnet"  # {cfg}',
        f'merge_strategy = "merge"  # {cfg}',
        f'models."gpt-5.4".backend = "codex"  # {cfg}',
    ]


def test_a_new_user_config_and_repeats(tmp_path: Path, hermetic: Path) -> None:
    cfg = "<tmp>/home/.config/dispatch/config.toml"
    assert ok("models", "add", "scripted", cwd=tmp_path, tmp=tmp_path) == (
        f"added model scripted in {cfg}: it runs on scripted\n")
    assert ok("models", "add", "scripted", cwd=tmp_path, tmp=tmp_path) == (
        f"model scripted is already in {cfg}: it runs on scripted\n")
    assert ok("config", "set", "default_model", "scripted", cwd=tmp_path, tmp=tmp_path) == (
        f'set default_model = "scripted" in {cfg}\n')
    assert ok("config", "set", "default_model", "scripted", cwd=tmp_path, tmp=tmp_path) == (
        f'default_model is already "scripted" in {cfg}\n')
    assert ok("config", "set", "copy", '[".env", "config/*.local"]', cwd=tmp_path, tmp=tmp_path) == (
        f'set copy = [".env", "config/*.local"] in {cfg}\n')
    assert ok("config", "set", "stop_grace", "2.5", cwd=tmp_path, tmp=tmp_path) == f"set stop_grace = 2.5 in {cfg}\n"
    assert ok("config", "set", "backends.mine.command", "my-agent --yes {prompt}", cwd=tmp_path, tmp=tmp_path) == (
        f'set backends.mine.command = "my-agent --yes {{prompt}}" in {cfg}\n')
    assert ok("config", "set", "backends.mine.env.MY_QUIET", "1", cwd=tmp_path, tmp=tmp_path) == (
        f'set backends.mine.env.MY_QUIET = "1" in {cfg}\n')
    assert ok("config", "set", 'models."gemini-2.5-pro".backend', "gemini", cwd=tmp_path, tmp=tmp_path) == (
        f'set models."gemini-2.5-pro".backend = "gemini" in {cfg}\n')
    assert ok("config", "unset", "ask_timeout", cwd=tmp_path, tmp=tmp_path) == (
        f"ask_timeout is not in {cfg}: nothing to remove\n")
    assert ok("models", "unalias", "nobody", cwd=tmp_path, tmp=tmp_path) == (
        f"alias nobody is not in {cfg}: nothing to remove\n")
    assert user_file(hermetic).read_text() == textwrap.dedent("""\
        default_model = "scripted"
        copy = [".env", "config/*.local"]
        stop_grace = 2.5

        [models.scripted]

        [backends.mine]
        command = "my-agent --yes {prompt}"
        env = {MY_QUIET = "1"}

        [models."gemini-2.5-pro"]
        backend = "gemini"
        """)


BAD = [
    (["config", "set", "merge_strategy", "fast"],
     "<cfg>: key `merge_strategy` must be one of squash, merge, rebase, ff, not str 'fast'"),
    (["config", "set", "max_running", "-1"], "<cfg>: key `max_running` must be zero or more, not int -1"),
    (["config", "set", "max_running", "two"], "<cfg>: key `max_running` must be an integer, not str 'two'"),
    (["config", "set", "ask_timeout", "[1]"], "<cfg>: key `ask_timeout` must be a number, not list [1]"),
    (["config", "set", "copy", ".env"], "key `copy` must be a list, written as TOML: `dispatch config set copy '[\".env\"]'`"),
    (["config", "set", "copy", "[1, 2]"], "<cfg>: key `copy` must be a list of strings, not list [1, 2]"),
    (["config", "set", "setup", "npm ci"], "key `setup` must be a list, written as TOML: `dispatch config set setup '[\"npm ci\"]'`"),
    (["config", "set", "setup", '["unclosed \'quote"]'],
     "<cfg>: key `setup[0]` is not a valid command line: No closing quotation"),
    (["config", "set", "backends.x.command", "[]"], "<cfg>: key `backends.x.command` is an empty command"),
    (["config", "set", "backends.x.env", "3"],
     ("key `backends.x.env` must be a table of strings, written as TOML: '{ NAME = \"value\" }', or set one "
     "variable: `dispatch config set backends.x.env.NAME VALUE`")),
    (["config", "set", "backends.x.unset", "[1]"], "<cfg>: key `backends.x.unset` must be a list of strings, not list [1]"),
    (["config", "set", "colour", "blue"],
     # the scalar keys as config.py lists them, in its order
     "unknown key `colour`: use one of " + ", ".join([*SCALARS, *LISTS]) + ", backends.NAME.command|env|unset, "
     "backends.NAME.env.VAR, models.MODEL.backend, aliases.NAME.model|prompt, runners.NAME.kind|host|path|dispatch|ssh|sbatch"),
    (["config", "set", "models.x.cost", "3"], "unknown key `models.x.cost`: an entry of `models` has only `backend`, `runner`"),
    (["config", "set", "models.x", "claude"], "`models.x` is a table: set one of its fields, such as `models.x.backend`"),
    (["config", "set", "a b", "1"],
     "`a b` is not a config key: write it as in the file, such as `merge_strategy` or `models.\"gpt-5.4\".backend`"),
    (["config", "set", "aliases.x.prompt", "p"],
     "<cfg>: key `aliases.x.model` is missing: alias `x` needs the model it stands for"),
    (["config", "set", "backends.x.unset", '["A"]'],
     "<cfg>: key `backends.x.command` is missing: backend `x` needs the command that runs it"),
    (["models", "add", "gpt-5", "--backend", "nope"],
     ("<cfg>: key `models.gpt-5.backend` names backend `nope`, which is not defined: add a [backends.nope] table "
     "or use one of aider, claude, codex, cursor, gemini, opencode, scripted")),
    (["models", "add", ""], "the model name is empty: give one, such as `gpt-5.4`"),
    (["models", "alias", "x", "--model", ""], "<cfg>: key `aliases.x.model` must be a non-empty string, not str ''"),
    (["config", "unset", "a..b"],
     "`a..b` is not a config key: write it as in the file, such as `merge_strategy` or `models.\"gpt-5.4\".backend`"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, hermetic: Path, args: list[str], message: str) -> None:
    path = write(user_file(hermetic), USER_TEXT)
    r = dispatch(*args, cwd=tmp_path, tmp=tmp_path)
    expected = "dispatch: " + message.replace("<cfg>", "<tmp>/home/.config/dispatch/config.toml") + "\n"
    assert (r.code, r.out, r.err) == (1, "", expected)
    assert path.read_text() == USER_TEXT
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]


def test_a_broken_file_is_named_and_left_alone(tmp_path: Path, hermetic: Path) -> None:
    path = write(user_file(hermetic), 'default_model = "opus"\nmax_running = \n')
    r = dispatch("config", "set", "default_model", "sonnet", cwd=tmp_path, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: <tmp>/home/.config/dispatch/config.toml: invalid TOML: Invalid value (at line 2, column 15): "
        "fix the file or move it away\n"))
    assert path.read_text() == 'default_model = "opus"\nmax_running = \n'
    write(path, 'default_model = "opus"\nflavour = "x"\n')
    r = dispatch("config", "set", "default_model", "sonnet", cwd=tmp_path, tmp=tmp_path)
    assert (r.code, r.err) == (1, ("dispatch: <tmp>/home/.config/dispatch/config.toml: unknown key `flavour`: "
                                  "`dispatch config example` prints every key dispatch reads\n"))
    assert path.read_text() == 'default_model = "opus"\nflavour = "x"\n'


def test_repo_file_with_repo_flag(repo: Path, tmp_path: Path, hermetic: Path) -> None:
    user = write(user_file(hermetic), USER_TEXT)
    repo_file = write(repo / ".dispatch.toml", "# team settings\nmerge_strategy = \"squash\"\n")
    assert ok("config", "set", "max_running", "4", "--repo", cwd=repo / "src", tmp=tmp_path) == (
        "set max_running = 4 in <tmp>/work/app/.dispatch.toml\n")
    assert repo_file.read_text() == '# team settings\nmerge_strategy = "squash"\nmax_running = 4\n'
    assert user.read_text() == USER_TEXT
    # Removing from the wrong file says where the key is.
    r = dispatch("config", "unset", "max_running", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (1, ("dispatch: `max_running` is not in <tmp>/home/.config/dispatch/config.toml but "
                                  "in <tmp>/work/app/.dispatch.toml: add --repo\n"))
    r = dispatch("models", "rm", "sonnet", "--repo", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (1, ("dispatch: `models.sonnet` is not in <tmp>/work/app/.dispatch.toml but "
                                  "in <tmp>/home/.config/dispatch/config.toml: leave out --repo\n"))
    assert (repo_file.read_text(), user.read_text()) == (
        '# team settings\nmerge_strategy = "squash"\nmax_running = 4\n', USER_TEXT)
    r = dispatch("config", "set", "default_model", "x", "--repo", cwd=tmp_path, tmp=tmp_path)
    assert (r.code, r.err) == (1, ("dispatch: <tmp> is not in a git repository: run dispatch inside one "
                                  "(or `git init` one first)\n"))


def test_an_edit_that_lapses_trust_says_so(repo: Path, tmp_path: Path) -> None:
    repo_file = write(repo / ".dispatch.toml", 'setup = ["make deps"]\n')
    assert dispatch("trust", cwd=repo).code == 0
    r = dispatch("config", "set", "max_running", "2", "--repo", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (0, "set max_running = 2 in <tmp>/work/app/.dispatch.toml\n", (
        "note: <tmp>/work/app/.dispatch.toml defines commands and has changed: dispatch runs none of them until "
        "you read it and run `dispatch trust` again\n"))
    assert repo_file.read_text() == 'setup = ["make deps"]\nmax_running = 2\n'


def test_symlink_mode_and_line_endings_are_kept(tmp_path: Path, hermetic: Path) -> None:
    real = write(tmp_path / "dotfiles" / "dispatch.toml", '# mine\r\ndefault_model = "opus"\r\n')
    real.chmod(0o600)
    link = user_file(hermetic)
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    ok("config", "set", "default_model", "sonnet", cwd=tmp_path, tmp=tmp_path)
    ok("models", "add", "gpt-5.4", cwd=tmp_path, tmp=tmp_path)
    assert link.is_symlink()
    assert real.read_bytes() == b'# mine\r\ndefault_model = "sonnet"\r\n\r\n[models."gpt-5.4"]\r\n'
    assert real.stat().st_mode & 0o777 == 0o600


def test_tables_written_inline_or_dotted_are_edited_where_they_are(tmp_path: Path, hermetic: Path) -> None:
    path = write(user_file(hermetic), textwrap.dedent("""\
        aliases = { rev = { model = "opus" } }  # inline on purpose
        models.sonnet.backend = "claude"
        """))
    ok("models", "alias", "rev", "--model", "sonnet", "--prompt", "Be brief.", cwd=tmp_path, tmp=tmp_path)
    ok("models", "add", "sonnet", "--backend", "cursor", cwd=tmp_path, tmp=tmp_path)
    assert path.read_text() == textwrap.dedent("""\
        aliases = { rev = { model = "sonnet", prompt = "Be brief."} }  # inline on purpose
        models.sonnet.backend = "cursor"
        """)
    ok("models", "unalias", "rev", cwd=tmp_path, tmp=tmp_path)
    ok("models", "rm", "sonnet", cwd=tmp_path, tmp=tmp_path)
    assert path.read_text() == "aliases = {  }  # inline on purpose\n"


def test_concurrent_edits_all_land(tmp_path: Path, hermetic: Path) -> None:
    """Each edit reads, changes and replaces the file under a lock: none overwrites another's."""
    write(user_file(hermetic), USER_TEXT)
    procs = [subprocess.Popen([sys.executable, "-m", "dispatch", "models", "add", f"model-{i}", "--backend", "claude"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
             for i in range(8)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 8
    text = user_file(hermetic).read_text()
    assert text.startswith(USER_TEXT)
    assert sorted(line for line in text.splitlines() if line.startswith("[models.model-")) == [
        f"[models.model-{i}]" for i in range(8)]


def test_a_folder_in_the_files_place_is_refused(tmp_path: Path, hermetic: Path) -> None:
    user_file(hermetic).mkdir(parents=True)
    with pytest.raises(DispatchError, match=r"config.toml: cannot read: Is a directory$"):
        config_edit.set_key("default_model", "sonnet", repo_root=None)
    assert sorted(p.name for p in user_file(hermetic).parent.iterdir()) == ["config.toml"]
