"""Packaging: the man pages render without warnings, the bash completion
completes commands and options, and the Debian package built by CPack from
the build dir holds what it should, runs from an extracted root with the
system's libraries, and its systemd units pass `systemd-analyze verify`.

Needs man-db, systemd (systemd-analyze), dpkg-dev and cmake's cpack
(scripts/deps.sh installs them); a missing tool fails the test, it never
skips.  Uses $KFERRY_BUILD_DIR (default ./build), built with the `man`
target (part of ALL).
"""

import gzip
import os
import re
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("KFERRY_BUILD_DIR") or os.path.join(ROOT, "build")
MANWIDTH = 80


def tool(name):
    path = shutil.which(name)
    assert path, "%s is not installed (run scripts/deps.sh)" % name
    return path


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    env.update(extra)
    return env


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"project\(kferry VERSION ([0-9.]+)", f.read())
    assert m
    return m.group(1)


# --- man pages ---------------------------------------------------------------

PAGES = {
    "kferry.1": ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "FILES",
                 "SEE ALSO", "kferry mirror", "--config", "kferry cutover", "--producers-first",
                 "kferry verify", "--allow-unmirrored", "kferry completion bash",
                 "kferry.properties(5)"],
    "kferry-broker.8": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "CONFIGURATION",
                        "EXIT STATUS", "FILES", "--listen", "--data-dir", "--override",
                        "--add-scram-user", "log.retention.hours", "listeners",
                        "Topic keys", "cleanup.policy", "/var/lib/kferry-broker"],
    "kferry.properties.5": ["NAME", "SYNOPSIS", "DESCRIPTION", "KEYS", "EXAMPLE", "clusters",
                            "topics.exclude", "kferry.shutdown.timeout.seconds",
                            "kferry.gap.policy", "config.providers", "ssl.truststore.location",
                            "SEE ALSO"],
}


def render(page, warnings="w"):
    """man -l PAGE as plain text at MANWIDTH columns; (stdout, stderr)."""
    cp = subprocess.run([tool("man"), "--warnings=%s" % warnings, "-l", page],
                        capture_output=True, text=True, timeout=60,
                        env=clean_env(MANWIDTH=str(MANWIDTH), MANPAGER="cat", PAGER="cat",
                                      LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING=""))
    assert cp.returncode == 0, "man -l %s: exit %d\n%s" % (page, cp.returncode, cp.stderr)
    return cp.stdout, cp.stderr


@pytest.mark.parametrize("name", sorted(PAGES))
def test_man_page_renders_without_warnings(name):
    page = os.path.join(BUILD, "man", name)
    assert os.path.isfile(page), "%s missing: build the `man` target" % page
    # "w": every groff warning, not only man-db's default ("mac")
    text, err = render(page, "w")
    assert err == "", "groff/man warnings for %s:\n%s" % (name, err)
    for want in PAGES[name]:
        assert want in text, "%s does not contain %r" % (name, want)
    long_lines = [l for l in text.splitlines() if len(l) > MANWIDTH]
    assert not long_lines, "%s: lines wider than %d:\n%s" % (name, MANWIDTH,
                                                             "\n".join(long_lines))
    # no troff source left over, options stay ASCII (copy-paste works)
    for bad in ("\\fB", "\\fI", "\\fR", "\\(", "\\[u", "\\:", "\\&", "\u2212", "\u2010"):
        assert bad not in text, "%s renders %r:\n%s" % (name, bad, text[:2000])
    macros = [l for l in text.splitlines() if re.match(r"^\s*\.[A-Z]{1,2}\b", l)]
    assert not macros, "%s renders troff requests:\n%s" % (name, "\n".join(macros))


def test_man_pages_list_every_command_and_option():
    kferry = os.path.join(BUILD, "kferry")
    text, _ = render(os.path.join(BUILD, "man", "kferry.1"))
    listed = subprocess.run([kferry, "completion", "list"], capture_output=True, text=True,
                            check=True).stdout
    for line in listed.splitlines():
        name, opts = line.split("\t")
        assert "kferry " + name in text, "kferry(1) lacks the command %s" % name
        for o in opts.split():
            assert o.rstrip("=") in text, "kferry(1) lacks %s of %s" % (o, name)


# --- bash completion -----------------------------------------------------------

def complete(words, script=None):
    """COMPREPLY of _kferry for the command line `words` (the last word is
    the one being completed)."""
    script = script or os.path.join(BUILD, "completion", "kferry")
    assert os.path.isfile(script), "%s missing: build the `man` target" % script
    arr = " ".join("'%s'" % w for w in words)
    prog = ('source "$1" || exit 9; COMP_WORDS=(%s); COMP_CWORD=%d; '
            'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; _kferry; '
            'printf "%%s\\n" "${COMPREPLY[@]}"' % (arr, len(words) - 1))
    cp = subprocess.run([tool("bash"), "--norc", "--noprofile", "-c", prog, "bash", script],
                        capture_output=True, text=True, timeout=30, cwd=BUILD)
    assert cp.returncode == 0 and cp.stderr == "", cp
    return [l for l in cp.stdout.split("\n") if l]


def test_completion_script_matches_kferry_completion_bash():
    cp = subprocess.run([os.path.join(BUILD, "kferry"), "completion", "bash"],
                        capture_output=True, text=True, check=True)
    with open(os.path.join(BUILD, "completion", "kferry")) as f:
        assert f.read() == cp.stdout
    assert "complete -F _kferry kferry" in cp.stdout


def test_completion_commands_and_options():
    assert complete(["kferry", "mi"]) == ["mirror"]
    assert complete(["kferry", "mirror", "--co"]) == ["--config"]
    assert sorted(complete(["kferry", "c"])) == ["completion", "config-reference", "cutover"]
    assert sorted(complete(["kferry", "offsets", ""])) == ["dump", "translate"]
    assert sorted(complete(["kferry", "offsets", "translate", "--p"])) == ["--partition"]
    # cutover runs bare and has a subcommand: both are offered
    assert "producers" in complete(["kferry", "cutover", ""])
    assert "--producers-first" in complete(["kferry", "cutover", "--pr"])
    assert sorted(complete(["kferry", "cutover", "producers", "--t"])) == ["--timeout",
                                                                           "--topics"]
    assert complete(["kferry", "verify", "--allow"]) == ["--allow-unmirrored"]
    assert complete(["kferry", "status", "--bogus"]) == []
    # the value of --config is a file name; other values are not guessed
    assert complete(["kferry", "mirror", "--config", "CTestTestf"]) == ["CTestTestfile.cmake"]
    assert complete(["kferry", "verify", "--parallel", ""]) == []


def test_completion_offers_what_the_parser_accepts():
    """Every option of `kferry completion list` is one the command's parser
    knows: a flag followed by --help prints the help (exit 0, nothing runs);
    an option taking a value, given without one, is refused as missing its
    value, not as unknown."""
    kferry = os.path.join(BUILD, "kferry")
    listed = subprocess.run([kferry, "completion", "list"], capture_output=True, text=True,
                            check=True).stdout
    assert "mirror\t--config= -c= --help" in listed.splitlines()
    for line in listed.splitlines():
        name, opts = line.split("\t")
        for o in opts.split():
            if o == "--help":
                continue
            args = [o[:-1]] if o.endswith("=") else [o, "--help"]
            cp = subprocess.run([kferry] + name.split() + args, capture_output=True,
                                text=True, timeout=30, stdin=subprocess.DEVNULL)
            if o.endswith("="):
                assert cp.returncode == 2 and "needs a value" in cp.stderr, (name, o, cp)
            else:
                assert cp.returncode == 0 and "usage" in cp.stdout.lower(), (name, o, cp)
        cp = subprocess.run([kferry] + name.split() + ["--no-such-option"],
                            capture_output=True, text=True, timeout=30)
        assert cp.returncode == 2, (name, cp)


# --- the Debian package -----------------------------------------------------------

@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    cfg = os.path.join(BUILD, "CPackConfig.cmake")
    assert os.path.isfile(cfg), "%s missing: configure the build dir" % cfg
    out = tmp_path_factory.mktemp("deb")
    cp = subprocess.run([tool("cpack"), "--config", cfg, "-G", "DEB", "-B", str(out)],
                        capture_output=True, text=True, timeout=600)
    assert cp.returncode == 0, "cpack failed:\n%s\n%s" % (cp.stdout, cp.stderr)
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    assert len(debs) == 1, (debs, cp.stdout)
    root = out / "root"
    subprocess.run([tool("dpkg-deb"), "-x", str(out / debs[0]), str(root)], check=True)
    return {"path": str(out / debs[0]), "root": str(root), "dir": str(out)}


def test_deb_contents(deb):
    listing = subprocess.run([tool("dpkg-deb"), "-c", deb["path"]], capture_output=True,
                             text=True, check=True).stdout
    files = {l.split()[-1] for l in listing.splitlines()}
    for want in ["./usr/bin/kferry", "./usr/sbin/kferry-broker",
                 "./usr/share/man/man1/kferry.1.gz",
                 "./usr/share/man/man5/kferry.properties.5.gz",
                 "./usr/share/man/man8/kferry-broker.8.gz",
                 "./usr/share/bash-completion/completions/kferry",
                 "./usr/lib/systemd/system/kferry-mirror@.service",
                 "./usr/lib/systemd/system/kferry-broker.service",
                 "./usr/share/doc/kferry/README.md", "./usr/share/doc/kferry/OPERATIONS.md",
                 "./usr/share/doc/kferry/CONFIGURATION.md",
                 "./usr/share/doc/kferry/examples/mirror.properties",
                 "./usr/share/doc/kferry/examples/broker.properties"]:
        assert want in files, "%s not in the package:\n%s" % (want, listing)
    modes = {l.split()[-1]: l.split()[0] for l in listing.splitlines()}
    assert modes["./usr/bin/kferry"] == "-rwxr-xr-x", modes["./usr/bin/kferry"]
    assert modes["./usr/lib/systemd/system/kferry-broker.service"] == "-rw-r--r--"
    # the installed man pages are the generated ones, and render
    for sect, name in (("1", "kferry.1"), ("5", "kferry.properties.5"),
                       ("8", "kferry-broker.8")):
        installed = os.path.join(deb["root"], "usr", "share", "man", "man" + sect, name + ".gz")
        with gzip.open(installed) as f, open(os.path.join(BUILD, "man", name), "rb") as g:
            assert f.read() == g.read(), installed
        text, err = render(installed)
        assert err == "" and "NAME" in text, (installed, err)
    # nothing from the build or test tree
    assert not [f for f in files if "test" in os.path.basename(f) or "/tmp" in f], files


def needed_packages(binary):
    """The Debian packages holding the libraries `binary` links directly."""
    dump = subprocess.run([tool("objdump"), "-p", binary], capture_output=True, text=True,
                          check=True).stdout
    needed = re.findall(r"^\s*NEEDED\s+(\S+)$", dump, re.M)
    ldd = subprocess.run([tool("ldd"), binary], capture_output=True, text=True, check=True,
                         env=clean_env()).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    pkgs = set()
    for so in needed:
        assert so in paths, "%s: %s not resolved by ldd:\n%s" % (binary, so, ldd)
        real = paths[so]
        owner = None
        for cand in (real, os.path.realpath(real), "/usr" + real if not real.startswith(
                "/usr/") else real[4:]):
            cp = subprocess.run([tool("dpkg"), "-S", cand], capture_output=True, text=True)
            if cp.returncode == 0:
                owner = cp.stdout.split(":")[0]
                break
        assert owner, "%s: no Debian package owns %s" % (binary, real)
        pkgs.add(owner)
    return pkgs


def test_deb_control_fields(deb):
    info = subprocess.run([tool("dpkg-deb"), "-I", deb["path"]], capture_output=True,
                          text=True, check=True).stdout
    fields = dict(re.findall(r"^ ([A-Za-z-]+): (.*)$", info, re.M))
    assert fields.get("Package") == "kferry", info
    assert fields.get("Version") == project_version(), info
    assert fields.get("Architecture") == subprocess.run(
        [tool("dpkg"), "--print-architecture"], capture_output=True, text=True,
        check=True).stdout.strip()
    assert fields.get("Maintainer"), info
    assert re.search(r"^ Description: .+\n  kferry mirrors a Kafka cluster", info, re.M), info
    assert ";" not in info.split("Description:")[1], info  # a CMake list leaked in
    depends = {d.strip().split(" ")[0] for d in fields.get("Depends", "").split(",")}
    want = {"adduser"}
    for b in ("usr/bin/kferry", "usr/sbin/kferry-broker"):
        want |= needed_packages(os.path.join(deb["root"], b))
    # the libraries the issue names, when the binaries link them
    assert {"librdkafka1", "libssl3", "libjansson4", "libmicrohttpd12", "libcurl4",
            "libxml2", "libpcre2-8-0", "zlib1g"} <= want, want
    missing = {p.split(":")[0] for p in want} - depends
    assert not missing, "Depends lacks %s: %s" % (sorted(missing), fields.get("Depends"))
    ctl = os.path.join(deb["dir"], "control")
    subprocess.run([tool("dpkg-deb"), "-e", deb["path"], ctl], check=True)
    for script in ("postinst", "postrm"):
        p = os.path.join(ctl, script)
        assert os.access(p, os.X_OK), script
        subprocess.run(["sh", "-n", p], check=True)
    with open(os.path.join(ctl, "postinst")) as f:
        assert "adduser --system" in f.read()


def test_extracted_binaries_run_with_system_libraries(deb):
    kferry = os.path.join(deb["root"], "usr", "bin", "kferry")
    cp = subprocess.run([kferry, "--version"], capture_output=True, text=True, timeout=30,
                        env=clean_env())
    assert cp.returncode == 0, cp
    assert cp.stdout.startswith("kferry %s (librdkafka " % project_version()), cp.stdout
    broker = os.path.join(deb["root"], "usr", "sbin", "kferry-broker")
    cp = subprocess.run([broker, "--help"], capture_output=True, text=True, timeout=30,
                        env=clean_env())
    assert cp.returncode == 0 and "--data-dir" in cp.stdout, cp
    cp = subprocess.run([broker, "--version"], capture_output=True, text=True, timeout=30,
                        env=clean_env())
    assert cp.stdout.strip() == "kferry-broker %s" % project_version(), cp
    # the installed completion is the one the installed kferry prints
    cp = subprocess.run([kferry, "completion", "bash"], capture_output=True, text=True,
                        env=clean_env(), check=True)
    comp = os.path.join(deb["root"], "usr", "share", "bash-completion", "completions", "kferry")
    with open(comp) as f:
        assert f.read() == cp.stdout
    assert complete(["kferry", "mirror", "--co"], script=comp) == ["--config"]


@pytest.fixture(scope="module")
def unit_root(deb, tmp_path_factory):
    """The extracted package plus the host's unit directory (sysinit.target,
    network-online.target, ... which `verify` loads as dependencies); the
    package's own units win."""
    root = str(tmp_path_factory.mktemp("unitroot"))
    shutil.copytree(deb["root"], root, dirs_exist_ok=True, symlinks=True)
    unitdir = os.path.join(root, "usr", "lib", "systemd", "system")
    host = "/usr/lib/systemd/system"
    assert os.path.isfile(os.path.join(host, "sysinit.target")), "no systemd units on the host"
    for name in os.listdir(host):
        dst = os.path.join(unitdir, name)
        if not os.path.lexists(dst):
            src = os.path.join(host, name)
            if os.path.isdir(src) and not os.path.islink(src):
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst, follow_symlinks=False)
    return root


def analyze(root, unit):
    """systemd-analyze verify of a unit file of the root.

    In a container without systemd as PID 1 `verify` still works: it loads
    the units in a private manager.  --root makes ExecStart= paths resolve
    inside the extracted package (so /usr/bin/kferry must be in it), and
    units are looked up there (hence the host's units copied in, see
    unit_root); --man=no skips the Documentation= man page lookup.  Unknown
    or bad settings only print a line (exit 0): callers check stderr."""
    return subprocess.run([tool("systemd-analyze"), "verify", "--man=no", "--root=" + root,
                           unit], capture_output=True, text=True, timeout=120,
                          env=clean_env(SYSTEMD_LOG_LEVEL="notice"))


@pytest.mark.parametrize("unit", ["kferry-mirror@.service", "kferry-broker.service"])
def test_systemd_units_verify(unit_root, unit):
    root = unit_root
    unitdir = os.path.join(root, "usr", "lib", "systemd", "system")
    path = os.path.join(unitdir, unit)
    with open(path) as f:
        text = f.read()
    if unit.endswith("@.service"):
        # a template is verified as an instance
        inst = os.path.join(unitdir, unit.replace("@.", "@prod."))
        shutil.copyfile(path, inst)
        path = inst
        assert "ExecStart=/usr/bin/kferry mirror --config /etc/kferry/%i.properties" in text
        assert re.search(r"^RestartPreventExitStatus=.*\b2\b.*\b3\b", text, re.M), text
        assert "\nStateDirectory=" not in text  # kferry mirror writes no local file
    else:
        assert "StateDirectory=kferry-broker" in text
        assert "--config /etc/kferry/broker.properties --data-dir /var/lib/kferry-broker" in text
    for want in ("Restart=on-failure", "RestartSec=", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "User=kferry",
                 "KillSignal=SIGTERM", "TimeoutStopSec=", "ReadOnlyPaths=/etc/kferry"):
        assert want in text, "%s lacks %s" % (unit, want)
    cp = analyze(root, path)
    assert cp.returncode == 0 and cp.stdout == "" and cp.stderr == "", \
        "systemd-analyze verify %s: exit %d\n%s%s" % (unit, cp.returncode, cp.stdout, cp.stderr)


@pytest.mark.parametrize("change", ["binary", "key"])
def test_systemd_verify_catches_broken_units(unit_root, change):
    """The check above can fail: a unit whose ExecStart= binary is not in the
    package is refused, and an unknown setting is reported."""
    unitdir = os.path.join(unit_root, "usr", "lib", "systemd", "system")
    with open(os.path.join(unitdir, "kferry-broker.service")) as f:
        text = f.read()
    if change == "binary":
        text = text.replace("/usr/sbin/kferry-broker", "/usr/sbin/kferry-no-such-binary")
    else:
        text = text.replace("User=kferry", "User=kferry\nNoSuchSetting=yes")
    bad = os.path.join(unitdir, "kferry-broken.service")
    with open(bad, "w") as f:
        f.write(text)
    try:
        cp = analyze(unit_root, bad)
    finally:
        os.unlink(bad)
    if change == "binary":
        assert cp.returncode != 0 and "kferry-no-such-binary" in cp.stderr, cp
    else:
        assert "NoSuchSetting" in cp.stderr, cp
