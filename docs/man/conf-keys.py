#!/usr/bin/env python3
"""conf-keys.py — build mqbridge.conf(5) from its template and docs/CONFIG.md.

The KEYS section of the man page is the reference table of docs/CONFIG.md (the text
between <!-- BEGIN GENERATED REFERENCE --> and <!-- END ... -->), which
mqb_config_write_reference() generates from the loader's tables and unit.config keeps
in sync with the code. So the man page and CONFIG.md come from the same tables.

usage: conf-keys.py TEMPLATE CONFIG.md VERSION OUT
       (TEMPLATE has a line "@KEYS@"; @VERSION@ becomes VERSION)
"""
import re
import sys

BEGIN = "<!-- BEGIN GENERATED REFERENCE -->"
END = "<!-- END GENERATED REFERENCE -->"


def roff_text(s):
    """Markdown cell text to roff: escape, then `code` bold, **x** bold."""
    s = s.replace("\\", "\\e").replace("-", "\\-")
    s = re.sub(r"`([^`]*)`", r"\\fB\1\\fR", s)
    s = re.sub(r"\*\*([^*]*)\*\*", r"\\fI\1\\fR", s)
    return s.strip()


def line_safe(s):
    """A roff text line may not start with . or ' (a request)."""
    return "\\&" + s if s[:1] in (".", "'") else s


def cells(row):
    row = row.strip()
    return [c.strip() for c in row.strip("|").split("|")]


def keys_section(md):
    try:
        body = md.split(BEGIN, 1)[1].split(END, 1)[0]
    except IndexError:
        sys.exit("conf-keys.py: CONFIG.md has no generated reference markers")
    out = []
    for ln in body.splitlines():
        ln = ln.strip()
        if ln.startswith("#### "):
            out += [".SS " + roff_text(ln[5:].replace("`", ""))]
        elif ln.startswith("|") and not ln.startswith("|---") and not ln.startswith("| key |"):
            key, typ, default, rng, meaning = (cells(ln) + [""] * 5)[:5]
            out.append(".TP")
            out.append("\\fB" + roff_text(key.replace("`", "")) + "\\fR")
            if default == "**required**":
                desc = roff_text(typ) + "; \\fIrequired\\fR"
            else:
                desc = roff_text(typ) + "; default " + roff_text(default)
            if rng:
                desc += "; " + roff_text(rng)
            out.append(line_safe(desc) + ".")
            out.append(".br")
            out.append(line_safe(roff_text(meaning)))
    if not out:
        sys.exit("conf-keys.py: the reference in CONFIG.md is empty")
    return "\n".join(out)


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: conf-keys.py TEMPLATE CONFIG.md VERSION OUT")
    tmpl = open(sys.argv[1], encoding="utf-8").read()
    md = open(sys.argv[2], encoding="utf-8").read()
    if "\n@KEYS@\n" not in tmpl:
        sys.exit("conf-keys.py: the template has no @KEYS@ line")
    page = tmpl.replace("\n@KEYS@\n", "\n" + keys_section(md) + "\n")
    page = page.replace("@VERSION@", sys.argv[3])
    with open(sys.argv[4], "w", encoding="utf-8") as f:
        f.write(page)


if __name__ == "__main__":
    main()
