"""Kafka ACLs on kferry-broker: managed with Kafka's own kafka-acls.sh
(DescribeAcls / CreateAcls / DeleteAcls), kept across restarts and kill -9,
and enforced on real clients (confluent-kafka and kafka-python) as Kafka's
StandardAuthorizer does.

Every client here connects over PLAINTEXT, so it is User:ANONYMOUS.  The
tests name the principal through PRINCIPAL and build clients through
cf_client_conf / kp_client_kwargs, so that tests for SASL users can reuse
them by passing another principal and its credentials.

A strict broker (authorizer on, allow.everyone.if.no.acl.found=false, no
super user) cannot be given its first ACL by anyone: the tests start it
once with super.users=User:ANONYMOUS to let ANONYMOUS manage ACLs
(CLUSTER ALTER, which implies CLUSTER DESCRIBE, and nothing else), then
restart it without a super user.
"""

import re
import time

import confluent_kafka as ck
import pytest

from kf_util import cf_conf, cf_create_topic, kp_kwargs, unique
from test_admin_apis import tool  # noqa: F401  (Kafka's tools, skipped if absent)

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
PRINCIPAL = "User:ANONYMOUS"
TOPIC_AUTH = ck.KafkaError.TOPIC_AUTHORIZATION_FAILED  # 29
GROUP_AUTH = ck.KafkaError.GROUP_AUTHORIZATION_FAILED  # 30

LIST_RESOURCE_RE = re.compile(r"resourceType=(\w+), name=(.*), patternType=(\w+)\)`:")
LIST_ACL_RE = re.compile(r"\(principal=(.*), host=(.*), operation=(\w+), permissionType=(\w+)\)")


def strict(super_users=None, **extra):
    o = {"authorizer.class.name": AUTHORIZER, "allow.everyone.if.no.acl.found": "false"}
    if super_users:
        o["super.users"] = super_users
    o.update(extra)
    return o


def acls(tool, b, *args, check=True):
    return tool("kafka-acls", "--bootstrap-server", b.bootstrap, *args, check=check)


def list_acls(tool, b, *args):
    """The bindings kafka-acls.sh --list prints, as a set of
    (resource type, name, pattern, principal, host, operation, permission)."""
    out = acls(tool, b, "--list", *args).stdout
    got, res = set(), None
    for line in out.splitlines():
        m = LIST_RESOURCE_RE.search(line)
        if m:
            res = m.groups()
            continue
        m = LIST_ACL_RE.search(line)
        if m and res:
            got.add(res + m.groups())
    return got


# ------------------------------------------------------------------ clients


def cf_client_conf(b, principal=PRINCIPAL, **extra):
    """confluent-kafka settings for a client that is `principal`."""
    assert principal == PRINCIPAL, "only PLAINTEXT (User:ANONYMOUS) clients so far"
    return cf_conf(b.bootstrap, **extra)


def kp_client_kwargs(b, principal=PRINCIPAL, **extra):
    assert principal == PRINCIPAL, "only PLAINTEXT (User:ANONYMOUS) clients so far"
    return kp_kwargs(b.bootstrap, **extra)


def cf_produce_result(b, topic, n=3, timeout=20):
    """Produces n records; returns the set of delivery error codes (0 = ok)."""
    p = ck.Producer(cf_client_conf(b, **{"message.timeout.ms": 10000, "linger.ms": 0}))
    codes = []

    def cb(err, msg):
        codes.append(err.code() if err else 0)

    for i in range(n):
        p.produce(topic, value=b"v%d" % i, on_delivery=cb)
    p.flush(timeout)
    assert len(codes) == n, "only %d of %d delivery reports" % (len(codes), n)
    return set(codes)


def cf_consume(b, topic, group=None, want=1, timeout=20):
    """Subscribes with group (default: a fresh acl-open-g* group) and reads
    from the start.  Returns (values, set of error codes seen)."""
    group = group or unique("acl-open-g")
    conf = cf_client_conf(b, **{"group.id": group,
                                "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                "enable.partition.eof": False, "fetch.wait.max.ms": 100})
    c = ck.Consumer(conf)
    values, errors = [], set()
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(values) < want and not errors:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                errors.add(m.error().code())
            else:
                values.append(m.value())
        if values and not errors:
            c.commit(asynchronous=False)
    finally:
        c.close()
    return values, errors


def kp_produce_error(b, topic, prime=None):
    """The exception kafka-python's producer raises for one record, or None.

    kafka-python 2.0.2 drops a Metadata answer that holds a single topic
    with an error (ClusterMetadata.update_metadata fails the update), so a
    topic it may not DESCRIBE only ever times out, whatever the broker.
    With prime, a record to that topic goes first (and times out), so that
    the next Metadata request names two topics and the error is kept."""
    from kafka import KafkaProducer
    p = KafkaProducer(**kp_client_kwargs(b, max_block_ms=3000, retries=0))
    try:
        if prime:
            from kafka.errors import KafkaTimeoutError
            with pytest.raises(KafkaTimeoutError):
                p.send(prime, b"kp").get(timeout=10)
        p.send(topic, b"kp").get(timeout=15)
        return None
    except Exception as e:  # noqa: BLE001 - the test looks at the type
        return e
    finally:
        p.close(timeout=5)


def kp_assign_consume(b, topic, want=1, timeout=15):
    """kafka-python without a group: assign partition 0, read from the start."""
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(**kp_client_kwargs(b, group_id=None, enable_auto_commit=False,
                                         fetch_max_wait_ms=100))
    values = []
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(values) < want:
            for msgs in c.poll(timeout_ms=200).values():
                values.extend(m.value for m in msgs)
        return values, None
    except Exception as e:  # noqa: BLE001
        return values, e
    finally:
        c.close()


def kp_consume(b, topic, group, want=1, timeout=20):
    """kafka-python subscribe + poll; (values, exception or None)."""
    from kafka import KafkaConsumer
    c = KafkaConsumer(**kp_client_kwargs(b, group_id=group, auto_offset_reset="earliest",
                                         enable_auto_commit=False, fetch_max_wait_ms=100))
    values = []
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(values) < want:
            for msgs in c.poll(timeout_ms=200).values():
                values.extend(m.value for m in msgs)
        if values:
            c.commit()
        return values, None
    except Exception as e:  # noqa: BLE001
        return values, e
    finally:
        c.close()


# ------------------------------------------------------------------ tests


def test_acl_apis_without_authorizer_are_security_disabled(broker, tool):
    """As on Kafka: without authorizer.class.name the ACL APIs answer
    SECURITY_DISABLED, and nothing is enforced."""
    p = acls(tool, broker, "--list", check=False)
    assert p.returncode != 0
    assert "SecurityDisabledException" in p.stdout + p.stderr
    assert "No Authorizer is configured" in p.stdout + p.stderr


def test_kafka_acls_add_list_remove_survive_restart(broker_factory, tool):
    b = broker_factory(overrides=strict(super_users=PRINCIPAL))
    t = unique("acl-t")
    # One call: ALLOW alice READ+WRITE and DENY bob READ on two topics.
    acls(tool, b, "--add", "--allow-principal", "User:alice", "--deny-principal", "User:bob",
         "--operation", "Read", "--operation", "Write", "--topic", t, "--topic", t + "-2")
    acls(tool, b, "--add", "--allow-principal", "User:*", "--allow-host", "10.1.2.3",
         "--operation", "Describe", "--resource-pattern-type", "prefixed", "--group", "app-",
         "--transactional-id", "tx-")
    want = set()
    for topic in (t, t + "-2"):
        for op in ("READ", "WRITE"):
            want.add(("TOPIC", topic, "LITERAL", "User:alice", "*", op, "ALLOW"))
            want.add(("TOPIC", topic, "LITERAL", "User:bob", "*", op, "DENY"))
    want.add(("GROUP", "app-", "PREFIXED", "User:*", "10.1.2.3", "DESCRIBE", "ALLOW"))
    want.add(("TRANSACTIONAL_ID", "tx-", "PREFIXED", "User:*", "10.1.2.3", "DESCRIBE", "ALLOW"))
    assert list_acls(tool, b) == want

    # Removing one principal's ACLs of one topic; the rest stays.
    acls(tool, b, "--remove", "--force", "--deny-principal", "User:bob", "--operation", "Read",
         "--operation", "Write", "--topic", t)
    want -= {("TOPIC", t, "LITERAL", "User:bob", "*", op, "DENY") for op in ("READ", "WRITE")}
    assert list_acls(tool, b, "--topic", t) == {x for x in want if x[1] == t}

    # Both a clean restart and kill -9 keep every binding.
    b.restart()
    assert list_acls(tool, b) == want
    b.kill9()
    b.start(port=b.port)
    # --remove of a whole resource pattern, then the prefixed group ones.
    acls(tool, b, "--remove", "--force", "--topic", t + "-2")
    acls(tool, b, "--remove", "--force", "--resource-pattern-type", "prefixed", "--group", "app-")
    want = {x for x in want if x[1] != t + "-2" and x[0] != "GROUP"}
    b.restart()
    assert list_acls(tool, b) == want


def test_strict_broker_denies_then_acls_allow_then_deny_overrides(broker_factory, tool):
    """allow.everyone.if.no.acl.found=false and no super user: nothing works
    until ACLs say so; a DENY overrides an ALLOW; ACLs survive a restart."""
    b = broker_factory(overrides=strict(super_users=PRINCIPAL))
    topic, hidden, group = unique("acl-data"), unique("acl-hidden"), unique("acl-g")
    cf_create_topic(b.bootstrap, topic)
    cf_create_topic(b.bootstrap, hidden)
    acls(tool, b, "--add", "--allow-principal", PRINCIPAL, "--operation", "Alter", "--cluster")
    # Groups acl-open-g* are open, so that their consumers meet the topic's
    # ACLs; the test's own group is not.
    acls(tool, b, "--add", "--allow-principal", PRINCIPAL, "--operation", "Read",
         "--resource-pattern-type", "prefixed", "--group", "acl-open-g")
    b.stop()
    del b.overrides["super.users"]
    b.start(port=b.port)

    # No ACL for the topic or the group: every client is refused.
    assert cf_produce_result(b, topic) == {TOPIC_AUTH}
    vals, errs = cf_consume(b, topic)
    assert vals == [] and TOPIC_AUTH in errs, errs
    from kafka.errors import TopicAuthorizationFailedError
    assert isinstance(kp_produce_error(b, topic, prime=hidden), TopicAuthorizationFailedError)
    # Topics it may not DESCRIBE are left out of the full topic list.
    admin = ck.admin.AdminClient(cf_client_conf(b))
    assert topic not in admin.list_topics(timeout=10).topics
    # Naming an unknown topic does not auto-create it without CREATE.
    md = admin.list_topics(topic=unique("acl-auto"), timeout=10)
    assert [t.error.code() for t in md.topics.values()] == [TOPIC_AUTH]

    # Topic ACLs (one call): produce and assign-consume work; the group is
    # still refused.
    acls(tool, b, "--add", "--allow-principal", PRINCIPAL, "--operation", "Write",
         "--operation", "Read", "--topic", topic)
    assert cf_produce_result(b, topic) == {0}
    assert kp_produce_error(b, topic) is None
    vals, errs = cf_consume(b, topic, want=4)
    assert errs == set() and len(vals) == 4, (vals, errs)
    vals, exc = kp_assign_consume(b, topic, want=4)
    assert exc is None and len(vals) == 4, (vals, exc)
    vals, errs = cf_consume(b, topic, group=group)
    assert vals == [] and GROUP_AUTH in errs, errs
    from kafka.errors import GroupAuthorizationFailedError
    vals, exc = kp_consume(b, topic, group)
    assert isinstance(exc, GroupAuthorizationFailedError), repr(exc)
    topics = admin.list_topics(timeout=10).topics
    assert topic in topics and hidden not in topics

    # A group ACL (prefixed): group consumption works for both clients.
    acls(tool, b, "--add", "--allow-principal", PRINCIPAL, "--operation", "Read",
         "--resource-pattern-type", "prefixed", "--group", "acl-g")
    vals, errs = cf_consume(b, topic, group=group, want=4)
    assert errs == set() and len(vals) == 4, (vals, errs)
    vals, exc = kp_consume(b, topic, unique("acl-g-kp"), want=4)
    assert exc is None and len(vals) == 4, (vals, exc)

    # DENY WRITE beats the ALLOW; reads go on.
    acls(tool, b, "--add", "--deny-principal", PRINCIPAL, "--operation", "Write", "--topic",
         topic)
    assert cf_produce_result(b, topic) == {TOPIC_AUTH}
    vals, errs = cf_consume(b, topic, want=4)
    assert errs == set() and len(vals) == 4, (vals, errs)

    # After a restart (and after kill -9) the same answers.
    b.restart()
    assert cf_produce_result(b, topic) == {TOPIC_AUTH}
    b.kill9()
    b.start(port=b.port)
    assert isinstance(kp_produce_error(b, topic), TopicAuthorizationFailedError)
    vals, errs = cf_consume(b, topic, group=unique("acl-g"), want=4)
    assert errs == set() and len(vals) == 4, (vals, errs)
    assert hidden not in admin.list_topics(timeout=10).topics


def test_acl_apis_need_cluster_alter(broker_factory, tool):
    """Without CLUSTER ALTER / DESCRIBE (and not a super user) kafka-acls.sh
    is refused with CLUSTER_AUTHORIZATION_FAILED."""
    b = broker_factory(overrides=strict())
    p = acls(tool, b, "--add", "--allow-principal", PRINCIPAL, "--operation", "Read", "--topic",
             "x", check=False)
    assert "ClusterAuthorizationException" in p.stdout + p.stderr
    p = acls(tool, b, "--list", check=False)
    assert p.returncode != 0 and "ClusterAuthorizationException" in p.stdout + p.stderr


def test_allow_everyone_if_no_acl_found(broker_factory, tool):
    """With allow.everyone.if.no.acl.found=true a resource without ACLs is
    open; the first ACL on it closes it to everyone else (as on MSK)."""
    b = broker_factory(overrides=strict(**{"allow.everyone.if.no.acl.found": "true"}))
    topic = unique("acl-open")
    cf_create_topic(b.bootstrap, topic)
    assert cf_produce_result(b, topic) == {0}
    acls(tool, b, "--add", "--allow-principal", "User:someone-else", "--operation", "Write",
         "--topic", topic)
    assert cf_produce_result(b, topic) == {TOPIC_AUTH}


def test_corrupt_acl_file_stops_the_broker(broker_factory, tool):
    b = broker_factory(overrides=strict(super_users=PRINCIPAL))
    acls(tool, b, "--add", "--allow-principal", "User:alice", "--operation", "Read", "--topic",
         "t")
    b.stop()
    path = "%s/kferry-meta/acls" % b.data_dir
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        data[-3] ^= 0xFF
        f.seek(0)
        f.write(data)
    with pytest.raises(AssertionError) as e:
        b.start()
    assert path in str(e.value) and "corrupt" in str(e.value)


def test_bad_authorizer_config_is_refused(broker_factory):
    with pytest.raises(AssertionError) as e:
        broker_factory(overrides={"authorizer.class.name": "com.example.Custom",
                                  "super.users": "admin"})
    msg = str(e.value)
    assert "unsupported authorizer 'com.example.Custom'" in msg
    assert "super.users" in msg



def test_idempotent_and_transactional_producers(broker_factory, tool):
    """Kafka 4.0: an idempotent producer needs only WRITE on a topic; a
    transactional one also WRITE on its transactional id."""
    b = broker_factory(overrides=strict(super_users=PRINCIPAL))
    topic = unique("acl-txn")
    cf_create_topic(b.bootstrap, topic)
    acls(tool, b, "--add", "--allow-principal", PRINCIPAL, "--operation", "Alter", "--cluster")
    acls(tool, b, "--add", "--allow-principal", PRINCIPAL, "--operation", "Write", "--topic",
         topic)
    b.stop()
    del b.overrides["super.users"]
    b.start(port=b.port)

    p = ck.Producer(cf_client_conf(b, **{"enable.idempotence": True,
                                         "message.timeout.ms": 10000}))
    codes = []
    p.produce(topic, b"idem", on_delivery=lambda err, msg: codes.append(err))
    p.flush(15)
    assert codes == [None], codes

    def txn_producer():
        return ck.Producer(cf_client_conf(b, **{"transactional.id": unique("acl-tx"),
                                                "message.timeout.ms": 10000}))

    p = txn_producer()
    with pytest.raises(ck.KafkaException) as e:
        p.init_transactions(15)
    assert e.value.args[0].code() == ck.KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED

    acls(tool, b, "--add", "--allow-principal", PRINCIPAL, "--operation", "Write",
         "--resource-pattern-type", "prefixed", "--transactional-id", "acl-tx")
    p = txn_producer()
    p.init_transactions(15)
    p.begin_transaction()
    p.produce(topic, b"in-txn")
    p.flush(15)
    p.commit_transaction(15)
