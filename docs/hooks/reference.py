"""mkdocs hook: the reference pages, generated from the code at every build (never retyped).

* ``reference/cli.md``: every command, argument and option of the Typer app, with its help.
* ``reference/configuration.md``: every ``configuration.toml`` key: type, default, description.
* ``reference/metadata.md``: every metadata key of the session schema (the merged TOML files).
* ``reference/errors.md``: every error class, its exit code and what it means.

The pages exist only in the build (``File.generated``): nothing generated is committed, so
nothing can go stale. A command, key or error without a description fails the build.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files


def on_files(files: Files, config: MkDocsConfig) -> Files:
    pages = {
        "reference/cli.md": cli_reference(),
        "reference/configuration.md": schema_reference(
            "configuration.toml",
            "The keys of `ROOT/configuration.toml`: how sessions are processed. Every key is "
            "optional; `w2t-bkin config show ROOT` prints the effective file, "
            "`w2t-bkin config schema` this schema as JSON.",
            _config_schema(),
        ),
        "reference/metadata-keys.md": schema_reference(
            "Metadata keys",
            "The keys of the merged session metadata (`metadata.toml` → `subject.toml` → "
            "`session.toml`; see [Metadata](../metadata.md) for the merge rules). Unknown keys "
            "are refused with the closest valid key.",
            _metadata_schema(),
        ),
        "reference/errors.md": errors_reference(),
    }
    for path, text in pages.items():
        files.append(File.generated(config, path, content=text))
    return files


# -- CLI -----------------------------------------------------------------------------------------


def cli_reference() -> str:
    import typer

    from w2t_bkin.cli import _register, app

    _register()
    root = typer.main.get_command(app)
    lines = [
        "# Command line",
        "",
        "Every command of `w2t-bkin`, generated from the program itself. Errors print one line "
        "and a hint and exit with the code of their class ([exit codes](errors.md)); "
        "`--debug` shows the traceback instead.",
        "",
    ]
    context_class = type(root).context_class  # typer bundles its own click: no isinstance
    lines += _command_lines(root, ["w2t-bkin"], context_class(root, info_name="w2t-bkin"))
    return "\n".join(lines) + "\n"


def _command_lines(command: Any, path: list[str], ctx: Any) -> list[str]:
    title = " ".join(path)
    help_text = inspect.cleandoc(command.help or "")
    if not help_text and len(path) > 1:
        raise ValueError(f"command '{title}' has no help text")
    lines = [f"{'#' * min(len(path) + 1, 4)} `{title}`", "", help_text, ""]
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines += ["```", f"{title} {usage}".rstrip(), "```", ""]
    rows = []
    for param in command.params:
        if param.param_type_name == "argument":
            rows.append(
                (
                    f"`{param.name.upper()}`",
                    getattr(param, "help", "") or "",
                    "required" if param.required else _default(param),
                )
            )
        elif param.param_type_name == "option" and not param.hidden:
            names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
            default = "" if param.is_flag and not param.default else _default(param)
            rows.append((names, param.help or "", default))
    if rows:
        lines += ["| argument / option | meaning | default |", "|---|---|---|"]
        lines += [f"| {a} | {_cell(b)} | {_cell(c)} |" for a, b, c in rows]
        lines.append("")
    if hasattr(command, "list_commands"):  # a group
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            sub_ctx = type(sub).context_class(sub, info_name=name, parent=ctx)
            lines += _command_lines(sub, [*path, name], sub_ctx)
    return lines


def _default(param: Any) -> str:
    value = param.default
    if value is None or value == () or callable(value):
        return ""
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


# -- schemas -------------------------------------------------------------------------------------


def _config_schema() -> dict[str, Any]:
    from w2t_bkin.config import config_json_schema

    return config_json_schema()


def _metadata_schema() -> dict[str, Any]:
    from w2t_bkin.metadata import SessionMetadata

    return SessionMetadata.model_json_schema()


TOP = ""


def schema_reference(title: str, intro: str, schema: dict[str, Any]) -> str:
    """One table per object of a pydantic JSON schema, keys in the schema's order."""
    defs = schema.get("$defs", {})
    lines = [f"# {title}", "", intro, ""]
    seen: set[str] = set()

    def table(heading: str, node: dict[str, Any]) -> None:
        properties = node.get("properties", {})
        required = set(node.get("required", ()))
        lines.extend([f"## `[{heading}]`" if heading != TOP else "## Top-level keys", ""])
        if node.get("description"):
            lines.extend([_cell(node["description"]), ""])
        lines.extend(["| key | type | default | meaning |", "|---|---|---|---|"])
        nested: list[tuple[str, dict[str, Any]]] = []
        for key, prop in properties.items():
            kind, refs = _type_of(prop, defs)
            # a sub-table's default is its keys' defaults, listed in its own section below
            default = (
                "required"
                if key in required
                else ("" if kind.startswith("table (") else _json_default(prop))
            )
            description = prop.get("description", "") or " ".join(
                defs[ref].get("description", "").split("\n\n")[0] for ref in refs
            )
            lines.append(f"| `{key}` | {kind} | {default} | {_cell(description)} |")
            for ref in refs:
                if ref not in seen:
                    seen.add(ref)
                    nested.append((f"{heading}.{key}" if heading != TOP else key, defs[ref]))
        lines.append("")
        for sub_heading, sub in nested:
            if sub.get("properties"):
                table(sub_heading, sub)
            elif sub.get("enum"):
                lines.extend(
                    [
                        f"## `{sub_heading}`",
                        "",
                        "One of: " + ", ".join(f"`{v}`" for v in sub["enum"]),
                        "",
                    ]
                )

    table(TOP, schema)
    return "\n".join(lines) + "\n"


def _type_of(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[str, list[str]]:
    refs: list[str] = []

    def name(node: dict[str, Any]) -> str:
        if "$ref" in node:
            ref = node["$ref"].rsplit("/", 1)[-1]
            refs.append(ref)
            return f"table ({ref})"
        if "anyOf" in node:
            return " or ".join(name(n) for n in node["anyOf"])
        if "enum" in node:
            return " \\| ".join(f"`{v!r}`" for v in node["enum"])
        if "const" in node:
            return f"`{node['const']!r}`"
        kind = node.get("type", "any")
        if kind == "array":
            return f"array of {name(node.get('items', {}))}"
        if (
            kind == "object"
            and "additionalProperties" in node
            and isinstance(node["additionalProperties"], dict)
        ):
            return f"table of {name(node['additionalProperties'])}"
        return str(kind)

    return name(prop), refs


def _json_default(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return ""
    value = prop["default"]
    return f"`{value!r}`"


# -- errors --------------------------------------------------------------------------------------


def errors_reference() -> str:
    import w2t_bkin
    from w2t_bkin.errors import W2TError

    for module in pkgutil.walk_packages(w2t_bkin.__path__, "w2t_bkin."):
        if module.name.endswith(("errors", ".errors")) or module.name == "w2t_bkin.errors":
            importlib.import_module(module.name)
    classes: list[type[W2TError]] = []
    pending = [W2TError]
    while pending:
        klass = pending.pop()
        classes.append(klass)
        pending.extend(klass.__subclasses__())
    classes.sort(key=lambda k: (int(k.exit_code), k.__module__, k.__name__))
    lines = [
        "# Exit codes and errors",
        "",
        "Every error `w2t-bkin` raises is a `W2TError`: the command prints its message (what, "
        "where, expected and found) and a hint (the fix), then exits with the code of its "
        "class. Python callers catch the class, or a built-in it also derives from.",
        "",
        "| exit code | error | also a | module | meaning |",
        "|---|---|---|---|---|",
    ]
    for klass in classes:
        doc = inspect.getdoc(klass) or ""
        if not doc:
            raise ValueError(f"{klass.__module__}.{klass.__name__} has no docstring")
        builtins_ = [
            b.__name__
            for b in klass.__mro__[1:]
            if b.__module__ == "builtins" and b not in (Exception, BaseException, object)
        ]
        lines.append(
            f"| {int(klass.exit_code)} | `{klass.__name__}` | {', '.join(builtins_)} | "
            f"`{klass.__module__}` | {_cell(doc.splitlines()[0])} |"
        )
    lines += [
        "",
        "Exit code 0: every selected session succeeded or was cached. 1: a generic failure "
        "(`W2TError` itself) or a session of the batch failed. 2 is also what the command line "
        "returns for a usage error (unknown option, missing argument).",
        "",
    ]
    return "\n".join(lines) + "\n"
