"""kferry's MSK IAM signer (src/aws/sigv4.c, through build/tests/sigv4_tool)
against AWS's own reference signer, botocore's SigV4QueryAuth (Debian's
python3-botocore), which AWS's Python MSK IAM signer uses: for the same
credentials, region and time both must produce the same presigned
request - the same host and path, the same query parameters with the same
values, and so the same signature.  The order of the parameters in the URL
may differ (the signature is over the sorted, canonical query)."""

import base64
import datetime
import os
import subprocess
import urllib.parse
from unittest import mock

import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CASES = [
    # region, unix time, access key, secret, session token
    ("us-east-1", 1700000000, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None),
    ("eu-west-1", 1767225599, "ASIAKFERRYTEMP000001", "s3cr3t/with+slash=eq",
     "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJGMEQCIF+token/with+chars=="),
    ("ap-southeast-2", 946684800, "AKIA0000000000000000", "x" * 40, None),
    ("cn-north-1", 2000000000, "AKIAKFERRYCN00000001", "cn-secret-0123456789", "short"),
]


def tool():
    return os.path.join(os.environ.get("KFERRY_BUILD_DIR", "../../build"), "tests", "sigv4_tool")


def botocore_url(region, t, akid, secret, token):
    req = AWSRequest(method="GET", url="https://kafka.%s.amazonaws.com/" % region,
                     params={"Action": "kafka-cluster:Connect"})
    signer = SigV4QueryAuth(Credentials(akid, secret, token), "kafka-cluster", region, expires=900)
    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = datetime.datetime.utcfromtimestamp(t)
        signer.add_auth(req)
    return req.url


def parts(url):
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(u.query, keep_blank_values=True, strict_parsing=True)
    assert len(q) == len(dict(q)), "a parameter given twice: %r" % q
    return u.scheme, u.netloc, u.path, dict(q)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_same_presigned_request_as_botocore(case):
    region, t, akid, secret, token = case
    args = [tool(), region, str(t), akid, secret] + ([token, "kferry-test/1"] if token else [])
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout.splitlines()
    tok, url = out[0], out[1]
    # the token is the URL, base64url without padding
    assert "=" not in tok and "+" not in tok and "/" not in tok
    assert base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)).decode() == url
    ours = parts(url)
    if token:  # appended after signing, as AWS's MSK signers do
        assert ours[3].pop("User-Agent") == "kferry-test/1"
    theirs = parts(botocore_url(region, t, akid, secret, token))
    assert ours[:3] == theirs[:3]
    assert ours[3] == theirs[3]
    assert len(ours[3]["X-Amz-Signature"]) == 64


def test_a_different_secret_changes_the_signature():
    """The comparison above can fail: one secret character apart, the
    signatures differ."""
    region, t, akid, secret, token = CASES[0]
    out = subprocess.run([tool(), region, str(t), akid, secret[:-1] + "Z"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert parts(out[1])[3]["X-Amz-Signature"] != \
        parts(botocore_url(region, t, akid, secret, token))[3]["X-Amz-Signature"]
