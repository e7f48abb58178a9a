"""aws_endpoints.py - one small HTTP server (http.server in a thread) that
stands in for the AWS endpoints kferry's credential chain
(src/mirror/awscreds.c) talks to.  Used by test_aws_creds.py.

What it emulates, following the request and response shapes AWS
documents for each service (nothing more: no IAM policies, no real
tokens, one role each):

  EC2 instance metadata, IMDSv2 only
    PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds
    (1..21600; 400 without it) and answers a session token.
    GET /latest/meta-data/iam/security-credentials/ lists the role and
    GET /latest/meta-data/iam/security-credentials/<role> answers
    {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId", "SecretAccessKey",
    "Token", "Expiration", "LastUpdated"}; both need a valid, unexpired
    X-aws-ec2-metadata-token (401 without one, as IMDSv2-only instances do).

  ECS / EKS container credentials
    GET <ecs_path> with "Authorization: <ecs_token>" (401 otherwise, and
    when ecs_token is set but the header is missing) answers
    {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}.

  STS (Query API, POST / with an application/x-www-form-urlencoded body)
    Action=AssumeRole: the request must carry a SigV4 Authorization header
    for service "sts".  The signature is recomputed with botocore
    (botocore.auth.SigV4Auth over the same method, URL, signed headers and
    body, with the secret of the access key it names) and a mismatch is
    refused with 403 SignatureDoesNotMatch; an unknown key with 403
    InvalidClientTokenId; a wrong or missing X-Amz-Security-Token for a
    temporary key with 403 too.  Known keys: everything this server issued,
    plus whatever the test registers with add_key().
    Action=AssumeRoleWithWebIdentity: unsigned; WebIdentityToken must equal
    web_token (else 400 InvalidIdentityToken).
    Answers <AssumeRoleResponse>/<AssumeRoleWithWebIdentityResponse> with
    <Credentials> (AccessKeyId, SecretAccessKey, SessionToken, Expiration),
    errors as <ErrorResponse><Error><Type/><Code/><Message/></Error>.

Every credential set it hands out is new (AccessKeyId ASIA<KIND><n>) and
expires expiry_s seconds later (settable per test).  .log holds one dict
per request (method, path, headers, form) for the tests' assertions;
.issued maps each AccessKeyId it issued to its (secret, token, kind,
expires).
"""

import datetime
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

IMDS_ROLE = "kferry-test-role"
AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,"
                     r"\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$")
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def iso(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class AwsEndpoints:
    def __init__(self, expiry_s=3600):
        self.expiry_s = expiry_s
        self.ecs_path = "/v2/credentials/kferry-task"
        self.ecs_token = "ecs-auth-" + secrets.token_hex(8)
        self.web_token = "eyJ.web-identity." + secrets.token_hex(8)
        self.keys = {}  # access key -> (secret, session token or None)
        self.issued = {}  # access key -> dict(secret, token, kind, expires)
        self.imds_tokens = {}  # token -> expiry (monotonic)
        self.log = []
        self.on_issue = None  # called with (access key, secret, token) for each new set
        self._n = itertools.count(1)
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"ep": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_key(self, access_key, secret, token=None):
        with self._lock:
            self.keys[access_key] = (secret, token)

    def issue(self, kind):
        with self._lock:
            ak = "ASIA%s%04d" % (kind.upper(), next(self._n))
            sk = secrets.token_urlsafe(30)
            tok = "tok-%s-" % kind + secrets.token_urlsafe(40)
            exp = time.time() + self.expiry_s
            self.keys[ak] = (sk, tok)
            self.issued[ak] = {"secret": sk, "token": tok, "kind": kind, "expires": exp}
            if self.on_issue:  # e.g. a test telling kferry-broker's IAM emulation the new key
                self.on_issue(ak, sk, tok)
            return ak, sk, tok, iso(exp)

    def requests(self, **match):
        return [r for r in list(self.log) if all(r.get(k) == v for k, v in match.items())]

    # --- SigV4, recomputed by botocore ------------------------------------------
    def verify_sigv4(self, method, path, headers, body, entry):
        """None when the request's signature is botocore's for the same
        request, else (code, message)."""
        auth = headers.get("Authorization", "")
        m = AUTH_RE.match(auth)
        if not m:
            return ("MissingAuthenticationToken", "Request is missing a valid SigV4 Authorization header")
        ak, date8, region, service, signed, sig = m.groups()
        if service != "sts":
            return ("SignatureDoesNotMatch", "Credential should be scoped to correct service: 'sts'")
        with self._lock:
            known = self.keys.get(ak)
        if known is None:
            return ("InvalidClientTokenId", "The security token included in the request is invalid.")
        secret, token = known
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names:
            return ("IncompleteSignature", "host and x-amz-date must be signed")
        amzdate = headers.get("X-Amz-Date", "")
        if not amzdate.startswith(date8):
            return ("IncompleteSignature", "X-Amz-Date does not match the credential scope date")
        try:
            t = datetime.datetime.strptime(amzdate, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return ("IncompleteSignature", "bad X-Amz-Date")
        if abs(t.timestamp() - time.time()) > 300:
            return ("SignatureDoesNotMatch", "Signature expired")
        if token is not None:
            if headers.get("X-Amz-Security-Token") != token or "x-amz-security-token" not in names:
                return ("InvalidClientTokenId", "The security token included in the request is invalid.")
        signed_headers = {}
        for n in names:
            v = headers.get(n)
            if v is None:
                return ("SignatureDoesNotMatch", "signed header %s is not in the request" % n)
            signed_headers[n] = v
        req = AWSRequest(method=method, url="http://" + headers.get("Host", "") + path, data=body,
                         headers=signed_headers)
        req.context["timestamp"] = amzdate
        signer = SigV4Auth(Credentials(ak, secret, token), service, region)
        creq = signer.canonical_request(req)
        want = signer.signature(signer.string_to_sign(req, creq), req)
        if not hmac.compare_digest(want, sig):
            return ("SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided.")
        entry["sts_region"] = region
        entry["signed_by"] = ak
        return None


def _sts_ok(action, ak, sk, tok, exp, extra=""):
    return ('<%sResponse xmlns="%s">\n  <%sResult>\n%s    <Credentials>\n'
            "      <AccessKeyId>%s</AccessKeyId>\n      <SecretAccessKey>%s</SecretAccessKey>\n"
            "      <SessionToken>%s</SessionToken>\n      <Expiration>%s</Expiration>\n"
            "    </Credentials>\n  </%sResult>\n  <ResponseMetadata><RequestId>%s</RequestId>"
            "</ResponseMetadata>\n</%sResponse>\n"
            % (action, STS_NS, action, extra, ak, sk, tok, exp, action, secrets.token_hex(16), action))


def _sts_err(typ, code, msg):
    return ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n'
            "    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n</ErrorResponse>\n"
            % (STS_NS, typ, code, msg, secrets.token_hex(16)))


class _Handler(BaseHTTPRequestHandler):
    ep = None  # set per server
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, ctype="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body=b""):
        entry = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                 "time": time.time()}
        if self.command == "POST":
            entry["form"] = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                                        keep_blank_values=True))
        self.ep.log.append(entry)
        return entry

    def _imds_token_ok(self):
        tok = self.headers.get("X-aws-ec2-metadata-token")
        exp = self.ep.imds_tokens.get(tok) if tok else None
        return exp is not None and exp > time.monotonic()

    def do_PUT(self):
        self._record()
        if self.path != "/latest/api/token":
            return self._send(404, "Not Found")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self._send(400, "Bad Request")
        tok = "imds-" + secrets.token_urlsafe(24)
        self.ep.imds_tokens[tok] = time.monotonic() + int(ttl)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("X-aws-ec2-metadata-token-ttl-seconds", ttl)
        self.send_header("Content-Length", str(len(tok)))
        self.end_headers()
        self.wfile.write(tok.encode())

    def do_GET(self):
        self._record()
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path.startswith("/latest/"):
            if not self._imds_token_ok():
                return self._send(401, "Unauthorized")
            if self.path == base:
                return self._send(200, IMDS_ROLE)
            if self.path == base + IMDS_ROLE:
                ak, sk, tok, exp = self.ep.issue("imds")
                return self._send(200, json.dumps({
                    "Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC",
                    "AccessKeyId": ak, "SecretAccessKey": sk, "Token": tok, "Expiration": exp}),
                    "application/json")
            return self._send(404, "Not Found")
        if self.path == self.ep.ecs_path:
            if self.ep.ecs_token and self.headers.get("Authorization") != self.ep.ecs_token:
                return self._send(401, json.dumps({"code": "Unauthorized"}), "application/json")
            ak, sk, tok, exp = self.ep.issue("ecs")
            return self._send(200, json.dumps({
                "AccessKeyId": ak, "SecretAccessKey": sk, "Token": tok, "Expiration": exp,
                "RoleArn": "arn:aws:iam::123456789012:role/kferry-task-role"}), "application/json")
        return self._send(404, "Not Found")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        entry = self._record(body)
        if self.path != "/":
            return self._send(404, "Not Found")
        form = entry["form"]
        action = form.get("Action")
        xml = "text/xml"
        if form.get("Version") != "2011-06-15":
            return self._send(400, _sts_err("Sender", "InvalidAction", "bad Version"), xml)
        if action == "AssumeRole":
            bad = self.ep.verify_sigv4("POST", self.path, self.headers, body, entry)
            if bad:
                return self._send(403, _sts_err("Sender", bad[0], bad[1]), xml)
            if not form.get("RoleArn", "").startswith("arn:aws:iam::") or not form.get("RoleSessionName"):
                return self._send(400, _sts_err("Sender", "ValidationError", "RoleArn and RoleSessionName are required"), xml)
            ak, sk, tok, exp = self.ep.issue("sts")
            user = ("    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/x/%s</Arn>"
                    "<AssumedRoleId>AROAEXAMPLE:%s</AssumedRoleId></AssumedRoleUser>\n"
                    % (form["RoleSessionName"], form["RoleSessionName"]))
            return self._send(200, _sts_ok("AssumeRole", ak, sk, tok, exp, user), xml)
        if action == "AssumeRoleWithWebIdentity":
            if "Authorization" in self.headers:
                return self._send(400, _sts_err("Sender", "InvalidParameterCombination", "unsigned call expected"), xml)
            if form.get("WebIdentityToken") != self.ep.web_token:
                return self._send(400, _sts_err("Sender", "InvalidIdentityToken", "The web identity token is not valid"), xml)
            if not form.get("RoleArn") or not form.get("RoleSessionName"):
                return self._send(400, _sts_err("Sender", "ValidationError", "RoleArn and RoleSessionName are required"), xml)
            ak, sk, tok, exp = self.ep.issue("wid")
            return self._send(200, _sts_ok("AssumeRoleWithWebIdentity", ak, sk, tok, exp,
                                           "    <SubjectFromWebIdentityToken>system:serviceaccount:kferry"
                                           "</SubjectFromWebIdentityToken>\n"), xml)
        return self._send(400, _sts_err("Sender", "InvalidAction", "Could not find operation %s" % action), xml)
