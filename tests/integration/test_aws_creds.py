"""kferry's AWS credential chain (src/mirror/awscreds.c) end to end, through
tests/tools/awscreds_tool, against the stand-in endpoints of
aws_endpoints.py (IMDSv2, ECS container credentials, STS with its SigV4
signature recomputed by botocore).

Every run of the tool gets a clean environment (PATH, HOME in a temp dir,
nothing else unless the test adds it), so nothing on the machine running
the tests leaks in; AWS_EC2_METADATA_SERVICE_ENDPOINT always points at the
stand-in or at a closed port, never at 169.254.169.254.
"""

import hashlib
import os
import re
import socket
import subprocess
import time

import pytest

from aws_endpoints import IMDS_ROLE, AwsEndpoints

LINE_RE = re.compile(r"^source=(.*) access_key=(\S+) expires_ms=(\d+) now_ms=(\d+) "
                     r"secret_sha256=([0-9a-f]{64}) session_token_sha256=(\S+)$")
ROLE = "arn:aws:iam::123456789012:role/kferry-msk"
WEB_ROLE = "arn:aws:iam::123456789012:role/kferry-irsa"


def tool_binary():
    build = os.environ.get("KFERRY_BUILD_DIR")
    if not build:
        build = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    for path in (os.path.join(build, "tests", "awscreds_tool"), os.path.join(build, "awscreds_tool")):
        if os.path.exists(path):
            return path
    pytest.fail("awscreds_tool not built under %s (set KFERRY_BUILD_DIR)" % build)


def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


@pytest.fixture
def aws():
    ep = AwsEndpoints()
    yield ep
    ep.close()


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    h.mkdir()
    return h


def run_tool(env, *args, timeout=30):
    proc = subprocess.run([tool_binary()] + list(args), env=env, capture_output=True, text=True,
                          timeout=timeout)
    lines = []
    for line in proc.stdout.splitlines():
        m = LINE_RE.match(line)
        assert m, "bad tool line: %r" % line
        src, ak, exp, now, sh, th = m.groups()
        lines.append({"source": src, "access_key": ak, "expires_ms": int(exp), "now_ms": int(now),
                      "secret_sha256": sh, "token_sha256": th})
    return proc, lines


def base_env(home, imds=None, **extra):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds or closed_port_url()}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def assert_issued(aws, line, kind):
    """The line carries credentials the stand-in issued (kind), with the
    right secret and token."""
    info = aws.issued.get(line["access_key"])
    assert info is not None, "not issued by the stand-in: %s" % line["access_key"]
    assert info["kind"] == kind
    assert line["secret_sha256"] == sha(info["secret"])
    assert line["token_sha256"] == sha(info["token"])
    assert abs(line["expires_ms"] - int(info["expires"]) * 1000) <= 1000


def test_sources_in_order(aws, home, tmp_path):
    """env beats the shared files beat web identity beat container
    credentials beat instance metadata: drop them one by one."""
    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = filesecret\n")
    tok = tmp_path / "web-token"
    tok.write_text(aws.web_token + "\n")
    env = base_env(home, imds=aws.url,
                   AWS_ACCESS_KEY_ID="AKIAENV", AWS_SECRET_ACCESS_KEY="envsecret",
                   AWS_SHARED_CREDENTIALS_FILE=creds,
                   AWS_WEB_IDENTITY_TOKEN_FILE=tok, AWS_ROLE_ARN=WEB_ROLE,
                   AWS_ENDPOINT_URL_STS=aws.url,
                   AWS_CONTAINER_CREDENTIALS_FULL_URI=aws.url + aws.ecs_path,
                   AWS_CONTAINER_AUTHORIZATION_TOKEN=aws.ecs_token)

    proc, lines = run_tool(env)
    assert proc.returncode == 0, proc.stderr
    assert lines[0]["source"] == "environment variables"
    assert lines[0]["access_key"] == "AKIAENV" and lines[0]["secret_sha256"] == sha("envsecret")
    assert lines[0]["expires_ms"] == 0
    assert aws.log == []  # nothing further down the chain was asked

    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    proc, lines = run_tool(env)
    assert proc.returncode == 0, proc.stderr
    assert lines[0]["source"] == "profile 'default' in %s" % creds
    assert lines[0]["access_key"] == "AKIAFILE" and lines[0]["secret_sha256"] == sha("filesecret")
    assert aws.log == []

    del env["AWS_SHARED_CREDENTIALS_FILE"]
    proc, lines = run_tool(env)
    assert proc.returncode == 0, proc.stderr
    assert lines[0]["source"] == "web identity (role %s)" % WEB_ROLE
    assert_issued(aws, lines[0], "wid")
    assert [r["method"] for r in aws.log] == ["POST"]

    del env["AWS_WEB_IDENTITY_TOKEN_FILE"], env["AWS_ROLE_ARN"]
    proc, lines = run_tool(env)
    assert proc.returncode == 0, proc.stderr
    assert lines[0]["source"] == "container credentials (%s%s)" % (aws.url, aws.ecs_path)
    assert_issued(aws, lines[0], "ecs")

    del env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    proc, lines = run_tool(env)
    assert proc.returncode == 0, proc.stderr
    assert lines[0]["source"] == "instance metadata (IMDSv2, role %s)" % IMDS_ROLE
    assert_issued(aws, lines[0], "imds")


def test_imds_v2_token_flow(aws, home):
    proc, lines = run_tool(base_env(home, imds=aws.url))
    assert proc.returncode == 0, proc.stderr
    assert_issued(aws, lines[0], "imds")
    reqs = [(r["method"], r["path"]) for r in aws.log]
    assert reqs == [("PUT", "/latest/api/token"),
                    ("GET", "/latest/meta-data/iam/security-credentials/"),
                    ("GET", "/latest/meta-data/iam/security-credentials/" + IMDS_ROLE)]
    ttl = int(aws.log[0]["headers"]["X-aws-ec2-metadata-token-ttl-seconds"])
    assert 1 <= ttl <= 21600
    tokens = {r["headers"].get("X-aws-ec2-metadata-token") for r in aws.log[1:]}
    assert len(tokens) == 1 and next(iter(tokens)) in aws.imds_tokens

    # The stand-in really is IMDSv2-only: no token, no credentials.
    import urllib.error
    import urllib.request
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(aws.url + "/latest/meta-data/iam/security-credentials/", timeout=5)
    assert e.value.code == 401
    req = urllib.request.Request(aws.url + "/latest/api/token", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 400

    # AWS_EC2_METADATA_DISABLED=true: not even asked.
    n = len(aws.log)
    proc, _ = run_tool(base_env(home, imds=aws.url, AWS_EC2_METADATA_DISABLED="true"))
    assert proc.returncode == 1
    assert "instance metadata: skipped, AWS_EC2_METADATA_DISABLED=true" in proc.stderr
    assert len(aws.log) == n


def test_container_credentials(aws, home, tmp_path):
    url = aws.url + aws.ecs_path
    proc, lines = run_tool(base_env(home, AWS_CONTAINER_CREDENTIALS_FULL_URI=url,
                                    AWS_CONTAINER_AUTHORIZATION_TOKEN=aws.ecs_token))
    assert proc.returncode == 0, proc.stderr
    assert_issued(aws, lines[0], "ecs")
    assert aws.log[-1]["headers"]["Authorization"] == aws.ecs_token

    # The token file wins over the variable (EKS Pod Identity rotates it).
    tf = tmp_path / "ecs-token"
    tf.write_text(aws.ecs_token + "\n")
    proc, lines = run_tool(base_env(home, AWS_CONTAINER_CREDENTIALS_FULL_URI=url,
                                    AWS_CONTAINER_AUTHORIZATION_TOKEN="stale",
                                    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=tf))
    assert proc.returncode == 0, proc.stderr
    assert_issued(aws, lines[0], "ecs")

    # A wrong token: the status and the URL, never the token, and the chain
    # stops there (the instance metadata is not asked).
    proc, lines = run_tool(base_env(home, imds=aws.url, AWS_CONTAINER_CREDENTIALS_FULL_URI=url,
                                    AWS_CONTAINER_AUTHORIZATION_TOKEN="wrong-token-value"))
    assert proc.returncode == 1 and not lines
    assert "container credentials: failed, %s: HTTP 401" % url in proc.stderr
    assert "wrong-token-value" not in proc.stderr
    assert not aws.requests(method="PUT")

    # Plain http to anything but loopback or the agent is refused.
    proc, _ = run_tool(base_env(home, AWS_CONTAINER_CREDENTIALS_FULL_URI="http://198.51.100.7/creds"))
    assert proc.returncode == 1
    assert "plain http only to a loopback address" in proc.stderr


def test_web_identity(aws, home, tmp_path):
    tok = tmp_path / "token"
    tok.write_text(aws.web_token)
    env = base_env(home, AWS_WEB_IDENTITY_TOKEN_FILE=tok, AWS_ROLE_ARN=WEB_ROLE,
                   AWS_ROLE_SESSION_NAME="irsa-session", AWS_ENDPOINT_URL_STS=aws.url,
                   AWS_ENDPOINT_URL=closed_port_url())
    proc, lines = run_tool(env)
    assert proc.returncode == 0, proc.stderr
    assert_issued(aws, lines[0], "wid")
    form = aws.log[-1]["form"]
    assert form["Action"] == "AssumeRoleWithWebIdentity"
    assert form["RoleArn"] == WEB_ROLE and form["RoleSessionName"] == "irsa-session"
    assert form["WebIdentityToken"] == aws.web_token
    assert "Authorization" not in aws.log[-1]["headers"]

    tok.write_text("not-the-token")
    proc, lines = run_tool(env)
    assert proc.returncode == 1
    assert ("web identity: failed, AssumeRoleWithWebIdentity at %s: HTTP 400 InvalidIdentityToken"
            % aws.url) in proc.stderr
    assert "not-the-token" not in proc.stderr


def test_assume_role_on_env_creds(aws, home):
    """awsRoleArn: AssumeRole signed with the environment's keys (a session
    token too), the signature checked by botocore in the stand-in."""
    aws.add_key("ASIASOURCE", "source/secret+key", "source-session-token")
    env = base_env(home, AWS_ACCESS_KEY_ID="ASIASOURCE", AWS_SECRET_ACCESS_KEY="source/secret+key",
                   AWS_SESSION_TOKEN="source-session-token", AWS_ENDPOINT_URL=aws.url)
    proc, lines = run_tool(env, "--role-arn", ROLE, "--region", "eu-west-1",
                           "--role-session", "kferry-test")
    assert proc.returncode == 0, proc.stderr
    assert lines[0]["source"] == "environment variables + assumed role %s" % ROLE
    assert_issued(aws, lines[0], "sts")
    r = aws.log[-1]
    assert r["form"] == {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": ROLE,
                         "RoleSessionName": "kferry-test"}
    assert r["signed_by"] == "ASIASOURCE" and r["sts_region"] == "eu-west-1"

    # awsStsRegion wins over the cluster's region.
    proc, lines = run_tool(env, "--role-arn", ROLE, "--region", "eu-west-1", "--sts-region", "us-west-2")
    assert proc.returncode == 0, proc.stderr
    assert aws.log[-1]["sts_region"] == "us-west-2"
    assert aws.log[-1]["form"]["RoleSessionName"].startswith("kferry-")

    # A wrong secret: STS refuses the signature; the message names the
    # source, the URL and the code, never the secret.
    bad = dict(env, AWS_SECRET_ACCESS_KEY="wrong-secret-value")
    proc, lines = run_tool(bad, "--role-arn", ROLE, "--region", "eu-west-1")
    assert proc.returncode == 1 and not lines
    assert "awsRoleArn: failed, AssumeRole at %s: HTTP 403 SignatureDoesNotMatch" % aws.url in proc.stderr
    assert "with credentials from environment variables" in proc.stderr
    assert "wrong-secret-value" not in proc.stderr and "source-session-token" not in proc.stderr


def test_profile_role_with_source_profile(aws, home, tmp_path):
    aws.add_key("AKIABASE", "base-secret")
    (tmp_path / "credentials").write_text(
        "[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base-secret\n")
    (tmp_path / "config").write_text(
        "[profile deploy]\nrole_arn = %s\nsource_profile = base\nrole_session_name = deploy-s\n" % ROLE)
    env = base_env(home, AWS_SHARED_CREDENTIALS_FILE=tmp_path / "credentials",
                   AWS_CONFIG_FILE=tmp_path / "config", AWS_ENDPOINT_URL_STS=aws.url)
    proc, lines = run_tool(env, "--profile", "deploy")
    assert proc.returncode == 0, proc.stderr
    assert lines[0]["source"] == "profile 'deploy' (role %s via profile 'base' in %s)" % (
        ROLE, tmp_path / "credentials")
    assert_issued(aws, lines[0], "sts")
    assert aws.log[-1]["signed_by"] == "AKIABASE"
    assert aws.log[-1]["form"]["RoleSessionName"] == "deploy-s"


def test_credential_process(aws, home, tmp_path):
    script = tmp_path / "cp.sh"
    script.write_text("#!/bin/sh\n[ \"$1\" = 'a b' ] || exit 5\n"
                      "echo '{\"Version\": 1, \"AccessKeyId\": \"AKIAPROC\", "
                      "\"SecretAccessKey\": \"proc-secret\", \"SessionToken\": \"proc-token\", "
                      "\"Expiration\": \"2999-12-31T00:00:00Z\"}'\n")
    script.chmod(0o700)
    (tmp_path / "config").write_text("[default]\ncredential_process = %s \"a b\"\n" % script)
    proc, lines = run_tool(base_env(home, AWS_CONFIG_FILE=tmp_path / "config"), "--repeat", "3")
    assert proc.returncode == 0, proc.stderr
    assert [l["access_key"] for l in lines] == ["AKIAPROC"] * 3
    assert lines[0]["source"] == "credential_process of profile 'default'"
    assert lines[0]["secret_sha256"] == sha("proc-secret")
    assert lines[0]["token_sha256"] == sha("proc-token")
    assert lines[0]["expires_ms"] == 32503593600000


def test_refresh_before_expiry(aws, home):
    """Credentials that live 8 s are replaced before they expire (a new
    AccessKeyId), not on every call, and an expired set is never handed
    out."""
    aws.expiry_s = 8
    t0 = time.time()
    proc, lines = run_tool(base_env(home, imds=aws.url), "--repeat", "22", "--sleep-ms", "500")
    assert proc.returncode == 0, proc.stderr
    assert time.time() - t0 < 20
    assert len(lines) == 22
    for l in lines:
        assert l["expires_ms"] > l["now_ms"], "expired credentials handed out: %r" % l
        assert_issued(aws, l, "imds")
    keys = [l["access_key"] for l in lines]
    distinct = list(dict.fromkeys(keys))
    assert len(distinct) >= 2, keys
    # Each set was used for a while (cached), and replaced while it was
    # still valid: the last use of a set is before its expiry, and the
    # margin (a third of 8 s) is respected.
    assert len(distinct) <= 4, keys
    for ak in distinct[:-1]:
        last = max(l["now_ms"] for l in lines if l["access_key"] == ak)
        exp = int(aws.issued[ak]["expires"] * 1000)
        assert last < exp
        # replaced once less than a third of its life was left, not at the
        # last moment: the last use still had more than ~2.3 s (a third of
        # its 7-8 s, the Expiration having whole seconds) ahead of it
        assert exp - last > 2000, (ak, exp - last)
        uses = keys.count(ak)
        assert uses >= 4, keys
    n_fetch = len(aws.requests(method="PUT"))
    assert n_fetch == len(distinct)


def test_nothing_configured(home):
    t0 = time.time()
    imds = closed_port_url()
    proc, lines = run_tool(base_env(home, imds=imds))
    assert proc.returncode == 1 and not lines
    err = proc.stderr
    assert err.startswith("no AWS credentials: ")
    for part in ("environment: skipped, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
                 "shared config files: skipped, profile 'default' not found in %s/.aws/credentials" % home,
                 "web identity: skipped",
                 "container credentials: skipped",
                 "instance metadata: skipped, no IMDSv2 token from %s/latest/api/token" % imds):
        assert part in err, err
    assert time.time() - t0 < 5


def test_expired_answer_refused(aws, home):
    """An endpoint that hands out a set that has expired already: an error,
    not those credentials."""
    aws.expiry_s = -60
    proc, lines = run_tool(base_env(home, imds=aws.url))
    assert proc.returncode == 1 and not lines
    assert "instance metadata (IMDSv2, role %s) returned credentials that have already expired" % IMDS_ROLE \
        in proc.stderr
    assert len(aws.issued) == 1
