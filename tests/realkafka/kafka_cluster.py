"""Real Apache Kafka (KRaft) clusters for the real-Kafka tier.

KafkaCluster lays out, formats and runs the nodes of one cluster from a
Kafka binary distribution ($KAFKA_HOME, default ../shared/kafka/kafka_2.13-*
beside the repository):

  KafkaCluster(name, base_dir, kafka_home, brokers=1, secure=None)
    brokers == 1: one combined node (process.roles=broker,controller), like a
                  small on-premises source;
    brokers  > 1: a dedicated controller plus `brokers` broker-only nodes, so
                  partition leaders sit on different brokers and a broker can
                  restart while the metadata quorum stays up, as on MSK.

    secure:       optional extra listener on every broker, besides PLAINTEXT:
                  {"kind": "SASL_SSL", "pki": DIR, "users": {NAME: PASSWORD}}
                  (SCRAM-SHA-512 users created when formatting), or
                  {"kind": "MTLS", "pki": DIR} (an SSL listener named MTLS
                  with ssl.client.auth=required).  DIR holds the PKCS#12
                  stores secure_pki() makes; .secure_bootstrap lists the
                  listener's addresses.

  .start() formats every node (once) and starts them; returns when Metadata
           lists every broker.  .bootstrap is "127.0.0.1:P1,127.0.0.1:P2,...".
  .stop_broker(i) / .start_broker(i) / .restart_broker(i) (controlled
           shutdown with SIGTERM, same port and log dir), .kill9_broker(i),
  .shutdown() stops everything (SIGTERM, then SIGKILL after a deadline).

This is only process management: the brokers are the real thing.  Their
logs go to <base_dir>/<name>/node<id>/server.log (stdout of the JVM).
"""

import glob
import sys
import os
import signal
import socket
import subprocess
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def find_kafka_home():
    """$KAFKA_HOME, else the newest ../shared/kafka/kafka_* beside the repo;
    None when there is none (the tier is then skipped)."""
    env = os.environ.get("KAFKA_HOME")
    if env:
        return env if os.path.isfile(os.path.join(env, "bin", "kafka-server-start.sh")) else None
    for base in (os.path.join(REPO, "..", "shared", "kafka"),
                 os.path.join(REPO, "..", "..", "shared", "kafka")):
        homes = sorted(glob.glob(os.path.join(base, "kafka_*")))
        for h in reversed(homes):
            if os.path.isfile(os.path.join(h, "bin", "kafka-server-start.sh")):
                return os.path.abspath(h)
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def java_env(kafka_home, log_dir, heap="-Xmx512m -Xms128m"):
    env = dict(os.environ)
    env["KAFKA_HEAP_OPTS"] = heap
    env["LOG_DIR"] = log_dir
    # C1 only and the serial collector: on 2 cores five JVMs start in a third
    # of the time, at a throughput that is still far above what tests need.
    env.setdefault("KAFKA_JVM_PERFORMANCE_OPTS",
                   "-server -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true")
    # zstd: Debian's libzstd-jni1 puts libzstd-jni.so in the multiarch dir
    dirs = [d for d in ("/usr/lib/x86_64-linux-gnu/jni", "/usr/lib/x86_64-linux-gnu")
            if os.path.isdir(d)]
    if dirs:
        env["KAFKA_OPTS"] = (env.get("KAFKA_OPTS", "") + " -Djava.library.path=" +
                             ":".join(dirs)).strip()
    return env


TLS_PASSWORD = "changeit-kferry"


def secure_pki(directory):
    """A CA, a broker certificate and a client certificate for kferry
    (subject CN=kferry-mirror,O=kferry), as PKCS#12 stores for Kafka and PEM
    files for librdkafka (tests/integration/kf_pki.py)."""
    sys.path.insert(0, os.path.join(HERE, "..", "integration"))
    from kf_pki import Pki
    p = Pki(directory)
    p.server = p.issue("kafka-broker")
    p.client = p.issue("kferry-mirror", client=True, subject="/O=kferry/CN=kferry-mirror")
    p.truststore = p.truststore_p12()
    return p


# The session's secured listeners (see session_clusters): the source takes
# SCRAM-SHA-512 logins over TLS from this user, the target client
# certificates; both principals are super users there, as a migration
# tool's service accounts usually are (ACLs are tested separately).
SCRAM_USERS = {"mirror": "real-mirror-scram-pw"}
MTLS_PRINCIPAL = "User:CN=kferry-mirror,O=kferry"


def session_clusters(base, home, extra):
    """The tier's two clusters, not yet formatted: a single-node source with
    a SASL_SSL listener and a three-broker target with an MTLS listener."""
    pki = secure_pki(os.path.join(base, "pki"))
    ex = dict(extra)
    ex["super.users"] = ";".join([extra.get("super.users", "User:ANONYMOUS")] +
                                 ["User:%s" % u for u in SCRAM_USERS] + [MTLS_PRINCIPAL])
    src = KafkaCluster("source", base, home, brokers=1, extra=ex,
                       secure={"kind": "SASL_SSL", "pki": pki.dir, "users": SCRAM_USERS})
    tgt = KafkaCluster("target", base, home, brokers=3, extra=ex,
                       secure={"kind": "MTLS", "pki": pki.dir})
    return src, tgt


class Node:
    def __init__(self, cluster, node_id, roles, port, controller_port, secure_port=None):
        self.cluster = cluster
        self.node_id = node_id
        self.roles = roles
        self.port = port  # PLAINTEXT port (None for a controller-only node)
        self.controller_port = controller_port
        self.secure_port = secure_port
        self.dir = os.path.join(cluster.dir, "node%d" % node_id)
        self.log_dirs = os.path.join(self.dir, "data")
        self.config = os.path.join(self.dir, "server.properties")
        self.proc = None
        self.pid = None  # set when attached to a node another process started
        self.out = None
        self.starts = 0

    def write_config(self, extra):
        c = self.cluster
        voters = "%d@127.0.0.1:%d" % (c.controller.node_id, c.controller.controller_port)
        listeners, protos = [], ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
        if self.port:
            listeners.append("PLAINTEXT://127.0.0.1:%d" % self.port)
        if "controller" in self.roles:
            listeners.append("CONTROLLER://127.0.0.1:%d" % self.controller_port)
        rf = min(3, c.nbrokers)
        props = {
            "process.roles": self.roles,
            "node.id": self.node_id,
            "controller.quorum.voters": voters,
            "controller.listener.names": "CONTROLLER",
            "listeners": ",".join(listeners),
            "listener.security.protocol.map": ",".join(protos),
            "log.dirs": self.log_dirs,
            "num.partitions": 1,
            "default.replication.factor": rf,
            "min.insync.replicas": 2 if rf >= 3 else 1,
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": 2 if rf >= 3 else 1,
            "transaction.state.log.num.partitions": 5,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "log.cleaner.backoff.ms": 1000,
            "log.retention.check.interval.ms": 5000,
            "auto.create.topics.enable": "true",
            "controlled.shutdown.enable": "true",
        }
        if self.port:
            props["advertised.listeners"] = "PLAINTEXT://127.0.0.1:%d" % self.port
            props["inter.broker.listener.name"] = "PLAINTEXT"
        sec = c.secure
        if sec and self.secure_port:
            kind = sec["kind"]
            proto = "SASL_SSL" if kind == "SASL_SSL" else "SSL"
            ep = "%s://127.0.0.1:%d" % (kind, self.secure_port)
            props["listeners"] += "," + ep
            props["advertised.listeners"] += "," + ep
            props["listener.security.protocol.map"] += ",%s:%s" % (kind, proto)
            pki = sec["pki"]
            ln = kind.lower()
            props.update({
                "listener.name.%s.ssl.keystore.type" % ln: "PKCS12",
                "listener.name.%s.ssl.keystore.location" % ln: os.path.join(
                    pki, "kafka-broker.p12"),
                "listener.name.%s.ssl.keystore.password" % ln: TLS_PASSWORD,
                "listener.name.%s.ssl.key.password" % ln: TLS_PASSWORD,
                "listener.name.%s.ssl.truststore.type" % ln: "PKCS12",
                "listener.name.%s.ssl.truststore.location" % ln: os.path.join(
                    pki, "truststore.p12"),
                "listener.name.%s.ssl.truststore.password" % ln: TLS_PASSWORD,
            })
            if kind == "SASL_SSL":
                props["sasl.enabled.mechanisms"] = "SCRAM-SHA-512"
                props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"] = (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;")
            else:
                props["listener.name.%s.ssl.client.auth" % ln] = "required"
        props.update(extra or {})
        os.makedirs(self.dir, exist_ok=True)
        with open(self.config, "w") as f:
            for k, v in props.items():
                f.write("%s=%s\n" % (k, v))

    def format_cmd(self):
        cmd = [os.path.join(self.cluster.home, "bin", "kafka-storage.sh"), "format", "-t",
               self.cluster.cluster_id, "-c", self.config, "--ignore-formatted"]
        sec = self.cluster.secure
        if sec and "controller" in self.roles:
            for user, pw in sorted(sec.get("users", {}).items()):
                cmd += ["--add-scram", "SCRAM-SHA-512=[name=%s,password=%s]" % (user, pw)]
        return cmd

    def start(self):
        assert not self.alive()
        self.starts += 1
        self.out = open(os.path.join(self.dir, "server.%d.log" % self.starts), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(self.cluster.home, "bin", "kafka-server-start.sh"), self.config],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT,
            env=java_env(self.cluster.home, self.dir), start_new_session=True)
        self.pid = self.proc.pid

    def alive(self):
        if self.proc is not None:
            return self.proc.poll() is None
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
            return True
        except OSError:
            return False

    def _wait_pid(self, timeout):
        """Waits for an attached (not our child) node to exit."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def wait_listening(self, timeout):
        port = self.port or self.controller_port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError("kafka node %d of %s exited:\n%s" % (
                    self.node_id, self.cluster.name, self.log_tail()))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("kafka node %d of %s not listening on %d after %ds:\n%s" % (
            self.node_id, self.cluster.name, port, timeout, self.log_tail()))

    def _signal(self, sig):
        try:
            os.killpg(self.pid, sig)
        except OSError:
            pass

    def _reap(self, timeout):
        if self.proc is None:
            return self._wait_pid(timeout)
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout=60):
        if not self.alive():
            return
        self._signal(signal.SIGTERM)
        if not self._reap(timeout):
            self._signal(signal.SIGKILL)
            self._reap(10)
        if self.out:
            self.out.close()

    def kill9(self):
        if self.alive():
            self._signal(signal.SIGKILL)
            self._reap(10)
            if self.out:
                self.out.close()

    def log_tail(self, n=4000):
        try:
            with open(os.path.join(self.dir, "server.%d.log" % self.starts), "rb") as f:
                return f.read().decode("utf-8", "replace")[-n:]
        except OSError:
            return ""


class KafkaCluster:
    def __init__(self, name, base_dir, kafka_home, brokers=1, extra=None, secure=None):
        self.name = name
        self.secure = secure
        self.home = kafka_home
        self.dir = os.path.join(str(base_dir), name)
        self.nbrokers = brokers
        self.extra = extra or {}
        self.cluster_id = None
        sp = free_port if secure else (lambda: None)
        if brokers == 1:
            n = Node(self, 1, "broker,controller", free_port(), free_port(), sp())
            self.controller, self.brokers = n, [n]
            self.nodes = [n]
        else:
            ctl = Node(self, 100, "controller", None, free_port())
            self.controller = ctl
            self.brokers = [Node(self, i + 1, "broker", free_port(), None, sp())
                            for i in range(brokers)]
            self.nodes = [ctl] + self.brokers

    @property
    def bootstrap(self):
        return ",".join("127.0.0.1:%d" % b.port for b in self.brokers)

    @property
    def secure_bootstrap(self):
        return ",".join("127.0.0.1:%d" % b.secure_port for b in self.brokers)

    def broker_bootstrap(self, i):
        return "127.0.0.1:%d" % self.brokers[i].port

    def format(self):
        self.cluster_id = self._random_uuid()
        for n in self.nodes:
            n.write_config(self.extra)
        procs = [subprocess.Popen(n.format_cmd(), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT,
                                  env=java_env(self.home, n.dir, "-Xmx256m"))
                 for n in self.nodes]
        for n, p in zip(self.nodes, procs):
            out = p.communicate(timeout=120)[0]
            if p.returncode != 0:
                raise RuntimeError("formatting node %d of %s failed:\n%s" % (
                    n.node_id, self.name, out.decode("utf-8", "replace")[-3000:]))

    def _random_uuid(self):
        # Kafka's cluster ids are 16 random bytes, base64url without padding.
        import base64
        return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")

    def start_nodes(self):
        for n in self.nodes:
            n.start()

    def wait_ready(self, timeout=180):
        """Every node listens and Metadata lists every broker."""
        for n in self.nodes:
            n.wait_listening(timeout)
        self.wait_brokers(timeout)
        return self

    def wait_brokers(self, timeout=120, count=None):
        from confluent_kafka.admin import AdminClient
        want = self.nbrokers if count is None else count
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "broker.address.family": "v4"})
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                md = admin.list_topics(timeout=5)
                last = sorted(md.brokers)
                if len(md.brokers) >= want:
                    return
            except Exception as e:  # noqa: BLE001 - retried until the deadline
                last = e
            time.sleep(0.5)
        raise RuntimeError("%s: %d brokers not registered after %ds (last: %r)\n%s" % (
            self.name, want, timeout, last, "\n".join(n.log_tail(2000) for n in self.nodes)))

    def start(self):
        self.format()
        self.start_nodes()
        return self

    # -- one broker at a time (i: index into .brokers)
    def stop_broker(self, i, timeout=90):
        self.brokers[i].stop(timeout)

    def kill9_broker(self, i):
        self.brokers[i].kill9()

    def start_broker(self, i, timeout=120):
        b = self.brokers[i]
        b.start()
        b.wait_listening(timeout)
        self.wait_brokers(timeout)

    def restart_broker(self, i, timeout=120):
        self.stop_broker(i)
        self.start_broker(i, timeout)

    def wait_in_sync(self, timeout=120, topic_prefix=None):
        """Waits until every partition (of topics starting with topic_prefix,
        if given) has its full replica set in sync, as after a rolling
        restart step when the next broker may go down."""
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "broker.address.family": "v4"})
        deadline = time.monotonic() + timeout
        lagging = None
        while time.monotonic() < deadline:
            try:
                md = admin.list_topics(timeout=5)
                lagging = [(t, p.id) for t, tm in md.topics.items()
                           if topic_prefix is None or t.startswith(topic_prefix)
                           for p in tm.partitions.values()
                           if len(p.isrs) < len(p.replicas) or p.leader < 0]
                if not lagging:
                    return
            except Exception as e:  # noqa: BLE001
                lagging = e
            time.sleep(0.5)
        raise RuntimeError("%s: partitions not in sync after %ds: %r" % (
            self.name, timeout, lagging if not isinstance(lagging, list) else lagging[:10]))

    def shutdown(self):
        for n in reversed(self.nodes):
            if n.alive():
                n._signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for n in self.nodes:
            n._reap(max(0.1, deadline - time.monotonic()))
            n.kill9()

    # -- a session can attach to clusters started by an earlier one
    def state(self):
        return {"name": self.name, "home": self.home, "dir": self.dir,
                "brokers": self.nbrokers, "cluster_id": self.cluster_id,
                "secure": self.secure,
                "nodes": [{"id": n.node_id, "roles": n.roles, "port": n.port,
                           "controller_port": n.controller_port, "pid": n.pid,
                           "secure_port": n.secure_port,
                           "starts": n.starts} for n in self.nodes]}

    @classmethod
    def attach(cls, st):
        c = cls.__new__(cls)
        c.name, c.home, c.dir = st["name"], st["home"], st["dir"]
        c.nbrokers, c.cluster_id, c.extra = st["brokers"], st["cluster_id"], {}
        c.secure = st.get("secure")
        c.nodes = []
        for d in st["nodes"]:
            n = Node(c, d["id"], d["roles"], d["port"], d["controller_port"],
                     d.get("secure_port"))
            n.pid, n.starts = d["pid"], d["starts"]
            c.nodes.append(n)
        c.brokers = [n for n in c.nodes if "broker" in n.roles]
        c.controller = next(n for n in c.nodes if "controller" in n.roles)
        return c

    def tool(self, name, *args, timeout=120, check=True):
        """Runs one of Kafka's own tools (bin/<name>) against this cluster."""
        cp = subprocess.run([os.path.join(self.home, "bin", name)] + list(args),
                            capture_output=True, timeout=timeout,
                            env=java_env(self.home, self.dir, "-Xmx256m"))
        if check and cp.returncode != 0:
            raise AssertionError("%s %s exited %d:\n%s\n%s" % (
                name, " ".join(args), cp.returncode, cp.stdout.decode()[-2000:],
                cp.stderr.decode()[-3000:]))
        return cp


def main(argv):
    """python3 kafka_cluster.py up STATE_FILE | down STATE_FILE: start a
    source (1 node) and a target (3 brokers) for working on the tier, or
    stop them (see conftest.py, KFERRY_REALKAFKA_STATE)."""
    import json
    import tempfile
    if len(argv) != 3 or argv[1] not in ("up", "down"):
        print(main.__doc__, file=sys.stderr)
        return 2
    if argv[1] == "down":
        with open(argv[2]) as f:
            st = json.load(f)
        for k in ("src", "tgt"):
            KafkaCluster.attach(st[k]).shutdown()
        os.unlink(argv[2])
        return 0
    home = find_kafka_home()
    if home is None:
        print("no Kafka distribution: set KAFKA_HOME", file=sys.stderr)
        return 1
    sys.path.insert(0, HERE)
    from conftest import CLUSTER_EXTRA
    base = tempfile.mkdtemp(prefix="kferry-realkafka-")
    src, tgt = session_clusters(base, home, CLUSTER_EXTRA)
    for c in (src, tgt):
        c.format()
        c.start_nodes()
    src.wait_ready()
    tgt.wait_ready()
    with open(argv[2], "w") as f:
        json.dump({"src": src.state(), "tgt": tgt.state()}, f)
    print("source %s\ntarget %s" % (src.bootstrap, tgt.bootstrap))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
