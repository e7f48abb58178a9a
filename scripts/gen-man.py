#!/usr/bin/env python3
"""Writes the man pages kferry(1), kferry-broker(8) and kferry.properties(5)
as troff, from what the built programs print:

  kferry --help, kferry completion list, kferry <command> --help,
  kferry config-reference, kferry-broker --help,
  kferry-broker --print-config-reference

so the pages say what the programs do (the same tables as
docs/CONFIGURATION.md, scripts/gen-docs.sh).  Run by the CMake target `man`:

  gen-man.py --kferry BUILD/kferry --broker BUILD/kferry-broker \\
             --version 0.1.0 --out BUILD/man

Help text is converted block by block (blocks are separated by blank
lines): a block of option lines ("  --config FILE   the mirror's ...", with
continuation lines indented further) becomes a tagged list, a block whose
lines all start in column 0 becomes a filled paragraph, and anything else
is kept as it is printed (no-fill), so no layout is guessed.  Markdown from
the config references: headings, paragraphs and tables (one tagged
paragraph per row).  Standard library only.
"""

import argparse
import datetime
import gzip
import os
import re
import subprocess
import sys
import textwrap


def run(*argv):
    # In a KF_SANITIZE build a leak report at exit would fail the build
    # here; the tests look for leaks, not the docs build.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=0:" + env.get("ASAN_OPTIONS", "")
    cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        stdin=subprocess.DEVNULL, timeout=60, env=env)
    if cp.returncode != 0:
        sys.exit("gen-man: %s exited %d: %s" % (" ".join(argv), cp.returncode,
                                                 cp.stderr.decode(errors="replace")))
    return cp.stdout.decode()


# --- troff escaping ---------------------------------------------------------

def esc_char(ch):
    if ch == "\\":
        return "\\e"
    if ch == "-":
        return "\\-"
    if ch == "'":
        return "\\(aq"
    if ch == "`":
        return "\\(ga"
    if ch == "~":
        return "\\(ti"
    if ch == "^":
        return "\\(ha"
    if ord(ch) > 126:
        return "\\[u%04X]" % ord(ch)
    return ch


def esc(text, breaks=True):
    """Escapes plain text.  A word longer than 50 characters might not fit
    on a line at all: it may break after '.', '/', ',' or '_' (\\:)."""
    out = []
    for word in re.split(r"( +)", text):
        long_word = breaks and len(word) > 50
        for ch in word:
            out.append(esc_char(ch))
            if long_word and ch in "./,_":
                out.append("\\:")
    return "".join(out)


def line_start(s):
    """A line of troff input must not start with a control character."""
    if s.startswith(".") or s.startswith("'"):
        return "\\&" + s
    return s


def inline(text):
    """Markdown or help-text inline markup -> troff: `code` and **bold** in
    bold, [text](link) as text, backslash escapes of Markdown removed."""
    out = []
    pos = 0
    for m in re.finditer(r"`([^`]*)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)]*)\)", text):
        out.append(esc(re.sub(r"\\([\\`*_{}\[\]()#+\-.!|])", r"\1", text[pos:m.start()])))
        if m.group(1) is not None:
            code = m.group(1)
            out.append("\\fB%s\\fR" % esc(code) if code else "(empty)")
        elif m.group(2) is not None:
            out.append("\\fB%s\\fR" % esc(m.group(2)))
        else:
            out.append(esc(m.group(3)))
        pos = m.end()
    out.append(esc(re.sub(r"\\([\\`*_{}\[\]()#+\-.!|])", r"\1", text[pos:])))
    return "".join(out)


# man indents section text by 7 columns: no-fill lines longer than this
# would pass MANWIDTH=80
NOFILL_WIDTH = 72


def wrap_nofill(line):
    """A help line longer than NOFILL_WIDTH, broken at spaces; a command
    line's continuation is indented 4 more, prose keeps its indentation."""
    ind = len(line) - len(line.lstrip(" "))
    more = 4 if re.match(r"(usage:\s*|Examples?:\s*)?kferry", line.lstrip(), re.I) else 0
    out = []
    while len(line) > NOFILL_WIDTH:
        cut = line.rfind(" ", ind + more + 1, NOFILL_WIDTH + 1)
        if cut <= ind:
            break
        out.append(line[:cut].rstrip())
        line = " " * (ind + more) + line[cut:].lstrip()
    out.append(line)
    return out


def is_prose(line):
    t = line.strip()
    return bool(t) and not re.match(r"(usage:|Examples?:|kferry\b|\[|-)", t, re.I)


def nofill(lines):
    """Lines kept as printed.  Too wide for the page: a run of prose lines
    of one indentation (a description under a usage line) is filled again
    as one paragraph; any other line is broken at spaces."""
    lines = [l.rstrip() for l in lines]
    body = []
    i = 0
    while i < len(lines):
        ind = len(lines[i]) - len(lines[i].lstrip(" "))
        j = i + 1
        if is_prose(lines[i]):
            while j < len(lines) and is_prose(lines[j]) and \
                    len(lines[j]) - len(lines[j].lstrip(" ")) == ind:
                j += 1
        run = lines[i:j]
        if j - i > 1 and max(len(l) for l in run) > NOFILL_WIDTH:
            out = textwrap.wrap(" ".join(l.strip() for l in run), width=NOFILL_WIDTH,
                                initial_indent=" " * ind, subsequent_indent=" " * ind,
                                break_long_words=False, break_on_hyphens=False)
        else:
            out = [w for l in run for w in wrap_nofill(l)]
        body += [line_start(esc(w, breaks=False)) if w.strip() else "" for w in out]
        i = j
    return [".PP", ".nf"] + body + [".fi"]


# --- help text ---------------------------------------------------------------

# "  --config FILE   text", "  --print-config-reference  text", "  --json",
# "  status   text" (a word needs its text)
OPT_RE = re.compile(r"^(?P<ind> {2,})(?P<tag>-[^ ]+(?: [A-Z][A-Za-z0-9_:|=.,]*)?)"
                    r"(?: {2,}(?P<desc>\S.*))?$")
WORD_RE = re.compile(r"^(?P<ind> {2,})(?P<tag>[a-z][a-z-]*)(?: {2,}(?P<desc>\S.*))$")


def option_entries(lines):
    """[(tag, description)] when every line is an option line or the
    continuation of one; else None."""
    entries = []
    ind = None
    for l in lines:
        m = OPT_RE.match(l) or WORD_RE.match(l)
        lead = len(l) - len(l.lstrip(" "))
        if m and (ind is None or not (lead > ind and not l.lstrip().startswith("-"))):
            ind = len(m.group("ind"))
            entries.append([m.group("tag"), m.group("desc") or "", ind])
        elif entries and lead > ind:
            entries[-1][1] = (entries[-1][1] + " " + l.strip()).strip()
        else:
            return None
    return entries


def help_to_troff(text, heading=".SS", skip_usage=False):
    out = []
    blocks = [b.split("\n") for b in re.split(r"\n\s*\n", text.strip("\n"))]
    for b in blocks:
        if skip_usage and b[0].lower().startswith("usage:"):
            continue
        head = None
        if len(b) > 1 and not b[0].startswith(" ") and b[0].endswith(":") and \
                b[0][0].isupper() and option_entries(b[1:]):
            head, b = b[0][:-1], b[1:]
        entries = option_entries(b)
        if entries:
            if head:
                out += [heading + " " + esc(head.upper() if heading == ".SH" else head)]
            nested = False  # "    --mechanism M" under "  --add-scram-user NAME"
            for tag, desc, ind in entries:
                if (ind > entries[0][2]) != nested:
                    nested = not nested
                    out.append(".RS" if nested else ".RE")
                out += [".TP", line_start("\\fB%s\\fR" % esc(tag, breaks=False))]
                if desc:
                    out.append(line_start(inline(desc)))
            if nested:
                out.append(".RE")
        elif all(not l.startswith(" ") for l in b) and not b[0].lower().startswith("usage:") \
                and not re.match(r"^Examples?:", b[0]):
            out += [".PP", line_start(inline(" ".join(l.strip() for l in b)))]
        else:
            out += nofill(b)
    return out


# --- Markdown (the config references) ----------------------------------------

def split_row(line):
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [c.strip() for c in cells[1:-1]]


def markdown_to_troff(text, levels):
    """levels: the macro for '#', '##', '###' headings ('.SH', '.SS' or None
    to drop the heading)."""
    out = []
    lines = text.split("\n")
    i = 0
    para = []

    def flush():
        if para:
            out.extend([".PP", line_start(inline(" ".join(para)))])
            para.clear()

    while i < len(lines):
        l = lines[i].rstrip()
        m = re.match(r"^(#{1,3}) (.*)$", l)
        if m:
            flush()
            macro = levels[len(m.group(1)) - 1]
            if macro:
                title = inline(m.group(2))
                out.append(macro + " " + (title.upper() if macro == ".SH" else title))
            i += 1
        elif l.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| :]+\|$",
                                                                    lines[i + 1].strip()):
            flush()
            head = split_row(l)
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                row = split_row(lines[i])
                i += 1
                out += [".TP", line_start(inline(row[0]))]
                attrs = ["\\fI%s\\fR: %s" % (esc(h), inline(v))
                         for h, v in zip(head[1:-1], row[1:-1])]
                if attrs:
                    out += [line_start("; ".join(attrs)), ".br"]
                if len(row) > 1:
                    out.append(line_start(inline(row[-1])))
        elif not l.strip():
            flush()
            i += 1
        else:
            para.append(l.strip())
            i += 1
    flush()
    return out


# --- the pages ---------------------------------------------------------------

def th(name, section, date, version, title):
    return ['.\\" Generated by scripts/gen-man.py from the programs\' own help and',
            '.\\" config tables; do not edit.',
            '.TH "%s" "%s" "%s" "kferry %s" "%s"' % (name, section, date, version, title),
            ".nh", ".ad l"]


def kferry_page(kferry, version, date):
    main_help = run(kferry, "--help")
    commands = []
    for line in run(kferry, "completion", "list").splitlines():
        name, _, opts = line.partition("\t")
        commands.append((name, opts.split()))
    out = th("KFERRY", "1", date, version, "kferry manual")
    out += [".SH NAME", "kferry \\- migrate Kafka clusters: plan, mirror, verify, cut over"]
    out += [".SH SYNOPSIS", ".B kferry", ".I command", "[\\fIoptions\\fR]", ".br",
            ".B kferry \\-\\-help", ".br", ".B kferry \\-\\-version"]
    out += [".SH DESCRIPTION",
            ".PP",
            "\\fBkferry\\fR moves the topics, records, consumer group offsets and ACLs of a",
            "Kafka cluster to another one: it mirrors records with an exact source-to-target",
            "offset map kept on the target, checks a migration before it starts",
            "(\\fBplan\\fR) and after (\\fBverify\\fR), and moves consumer groups and",
            "producers over (\\fBcutover\\fR).  It reads MirrorMaker 2's",
            "\\fBmm2.properties\\fR format, see \\fBkferry.properties\\fR(5).",
            ".PP", "Every command and its options:"]
    for name, opts in commands:
        shown = " ".join("\\fB%s\\fR%s" % (esc(o.rstrip("="), breaks=False),
                                           " \\fIVALUE\\fR" if o.endswith("=") else "")
                         for o in opts if not o.startswith("-") or o.startswith("--"))
        out += [".TP", "\\fBkferry %s\\fR" % esc(name, breaks=False), shown]
    out += [".SH COMMANDS",
            ".PP",
            "What each command prints for \\fB\\-\\-help\\fR:"]
    seen = set()
    for name, _ in commands:
        first = name.split(" ")[0]
        if first in seen:
            continue
        seen.add(first)
        out += [".SS kferry %s" % esc(first, breaks=False)]
        out += help_to_troff(run(kferry, first, "--help"))
    # the last paragraph of `kferry --help`: "... Exit status: 0 ok, ..."
    m = re.search(r"Exit status:\s*(.*)", main_help, re.S)
    if not m:
        sys.exit("gen-man: kferry --help has no 'Exit status:'")
    out += [".SH EXIT STATUS", ".PP", line_start(inline(" ".join(m.group(1).split()))),
            "Each command's own exit statuses are listed under COMMANDS."]
    out += [".SH SIGNALS", ".PP",
            "\\fBkferry mirror\\fR stops cleanly on SIGTERM or SIGINT: it waits up to",
            "\\fBkferry.shutdown.timeout.seconds\\fR (default 30) for records in flight,",
            "persists the offset map on the target and exits 0."]
    out += [".SH FILES",
            ".TP", "\\fI/etc/kferry/\\fRNAME\\fI.properties\\fR",
            "The configuration of the mirror instance NAME run by",
            "\\fBkferry\\-mirror@\\fRNAME\\fB.service\\fR.",
            ".TP", "\\fI/usr/share/bash\\-completion/completions/kferry\\fR",
            "Bash completion, as printed by \\fBkferry completion bash\\fR.",
            ".TP", "\\fI/usr/share/doc/kferry/\\fR",
            "The full documentation (MIRROR.md, PLAN.md, VERIFY.md, CUTOVER.md, OPERATIONS.md, ...)."]
    out += [".SH SEE ALSO",
            "\\fBkferry.properties\\fR(5), \\fBkferry\\-broker\\fR(8), \\fBsystemctl\\fR(1)"]
    return out


def broker_page(broker, version, date):
    help_text = run(broker, "--help")
    ref = run(broker, "--print-config-reference")
    out = th("KFERRY-BROKER", "8", date, version, "kferry manual")
    out += [".SH NAME", "kferry\\-broker \\- a single-node Kafka-compatible broker"]
    blocks = re.split(r"\n\s*\n", help_text.strip("\n"))
    usage = [l for l in blocks[0].split("\n")]
    out += [".SH SYNOPSIS"]
    for i, l in enumerate(usage):
        l = re.sub(r"^(Usage:)?\s*", "", l)
        out += [".br"] if i else []
        out.append(line_start(re.sub(r"^kferry\\-broker", "\\\\fBkferry\\\\-broker\\\\fR",
                                     esc(l, breaks=False))))
    out += [".SH DESCRIPTION"]
    out += help_to_troff("\n\n".join(blocks[1:]), heading=".SH", skip_usage=True)
    out += [".SH CONFIGURATION", ".PP",
            "A Java-properties file (Kafka's \\fBserver.properties\\fR keys) given with",
            "\\fB\\-\\-config\\fR, and \\fB\\-\\-override\\fR \\fIKEY\\fR=\\fIVALUE\\fR.",
            "Unknown keys and bad values stop the broker with every problem listed."]
    out += markdown_to_troff(ref, [".SS", ".SS", ".SS"])
    out += [".SH EXIT STATUS", ".PP",
            "0 clean stop (SIGTERM or SIGINT), 1 runtime failure (a port in use, I/O),",
            "2 usage or configuration error."]
    out += [".SH FILES",
            ".TP", "\\fI/etc/kferry/broker.properties\\fR",
            "The configuration read by \\fBkferry\\-broker.service\\fR.",
            ".TP", "\\fI/var/lib/kferry\\-broker\\fR",
            "The data directory of \\fBkferry\\-broker.service\\fR (Kafka's on-disk format)."]
    out += [".SH SEE ALSO", "\\fBkferry\\fR(1), \\fBkferry.properties\\fR(5)"]
    return out


def properties_page(kferry, version, date):
    ref = run(kferry, "config-reference")
    out = th("KFERRY.PROPERTIES", "5", date, version, "kferry manual")
    out += [".SH NAME",
            "kferry.properties \\- configuration of kferry (MirrorMaker 2's mm2.properties)"]
    out += [".SH SYNOPSIS", "\\fI/etc/kferry/\\fRNAME\\fI.properties\\fR"]
    out += [".SH DESCRIPTION", ".PP",
            "\\fBkferry\\fR(1) reads MirrorMaker 2's \\fBmm2.properties\\fR format: a",
            "Java-properties file of \\fIkey\\fR=\\fIvalue\\fR lines (\\fB#\\fR and",
            "\\fB!\\fR start comments).  \\fBclusters\\fR names the cluster aliases; each",
            "alias has \\fIalias\\fB.bootstrap.servers\\fR; the flow",
            "\\fIsource\\fB\\->\\fItarget\\fB.enabled = true\\fR is what \\fBkferry mirror\\fR",
            "replicates.  Keys marked \"also A\\->B.\" may be given for the flow.",
            "\\fIalias\\fB.\\fIproperty\\fR, \\fIalias\\fB.consumer.\\fIproperty\\fR,",
            "\\fIalias\\fB.producer.\\fIproperty\\fR and \\fIalias\\fB.admin.\\fIproperty\\fR",
            "keys go to librdkafka unchanged.",
            ".PP",
            "Under systemd, \\fBkferry\\-mirror@\\fRNAME\\fB.service\\fR runs",
            "\\fBkferry mirror \\-\\-config /etc/kferry/\\fRNAME\\fB.properties\\fR as the",
            "user \\fBkferry\\fR, which must be able to read the file (it may hold",
            "passwords: mode 0640, group kferry)."]
    out += [".SH KEYS"]
    out += markdown_to_troff(ref, [".SS", ".SS", ".SS"])
    out += [".SH EXAMPLE", ".PP", ".nf",
            "clusters = onprem, msk",
            "onprem.bootstrap.servers = 10.0.0.5:9092",
            "msk.bootstrap.servers = b\\-1.example.kafka.eu\\-west\\-1.amazonaws.com:9094",
            "msk.security.protocol = SSL",
            "onprem\\->msk.enabled = true",
            "onprem\\->msk.topics = orders, payments",
            ".fi"]
    out += [".SH SEE ALSO", "\\fBkferry\\fR(1), \\fBkferry\\-broker\\fR(8)"]
    return out


def main():
    ap = argparse.ArgumentParser(description="write kferry's man pages")
    ap.add_argument("--kferry", required=True)
    ap.add_argument("--broker", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch \
        else datetime.datetime.now(datetime.timezone.utc)
    date = when.strftime("%Y-%m-%d")
    os.makedirs(a.out, exist_ok=True)
    pages = {"kferry.1": kferry_page(a.kferry, a.version, date),
             "kferry-broker.8": broker_page(a.broker, a.version, date),
             "kferry.properties.5": properties_page(a.kferry, a.version, date)}
    for name, lines in pages.items():
        text = ("\n".join(lines) + "\n").encode("ascii")
        # the page, and NAME.gz as Debian installs man pages (gzip -9n:
        # no name, no time stamp, so the package is reproducible)
        for suffix, data in (("", text), (".gz", gzip.compress(text, 9, mtime=0))):
            tmp = os.path.join(a.out, name + suffix + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, os.path.join(a.out, name + suffix))


if __name__ == "__main__":
    main()
