"""A throw-away certificate authority for the TLS tests, made with the
openssl command line (and keytool for the Java stores).

    pki = Pki(directory)               # a CA: pki.ca_pem
    srv = pki.issue("broker", ["127.0.0.1", "localhost"])
    cli = pki.issue("alice", client=True, subject="/CN=alice/OU=eng/O=kferry")

An issued identity has .cert (PEM chain: leaf then CA), .key (PEM, PKCS#8,
unencrypted), .key_encrypted (PEM, encrypted with .password), .p12
(PKCS#12 with .password) and, on request, .jks (a Java keystore, only so
tests can check that kferry refuses it).  Pki.truststore_p12() and
Pki.truststore_jks() hold the CA for Java clients.

Everything is made fresh per test session; nothing here is a fixture of
the repository.
"""

import os
import shutil
import subprocess

PASSWORD = "changeit-kferry"


def _run(*args, cwd=None):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


class Identity:
    def __init__(self, pki, name):
        self.name = name
        d = pki.dir
        self.cert = os.path.join(d, name + ".chain.pem")
        self.leaf = os.path.join(d, name + ".crt.pem")
        self.key = os.path.join(d, name + ".key.pem")
        self.key_encrypted = os.path.join(d, name + ".key.enc.pem")
        self.p12 = os.path.join(d, name + ".p12")
        self.jks = os.path.join(d, name + ".jks")
        self.password = PASSWORD


class Pki:
    def __init__(self, directory, ca_subject="/CN=kferry test CA/O=kferry"):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_pem = os.path.join(directory, "ca.crt.pem")
        self.ca_key = os.path.join(directory, "ca.key.pem")
        if not os.path.exists(self.ca_pem):
            _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                 "-subj", ca_subject, "-keyout", self.ca_key, "-out", self.ca_pem,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, hosts=("127.0.0.1", "localhost"), client=False, subject=None,
              jks=False):
        """Issues a certificate signed by the CA (server and client usage;
        subject alternative names for hosts)."""
        ident = Identity(self, name)
        d = self.dir
        subject = subject or "/CN=%s/O=kferry" % name
        csr = os.path.join(d, name + ".csr")
        ext = os.path.join(d, name + ".ext")
        sans = ",".join(("IP:" if h.replace(".", "").isdigit() or ":" in h else "DNS:") + h
                        for h in hosts)
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            f.write("keyUsage=critical,digitalSignature,keyEncipherment\n")
            f.write("extendedKeyUsage=serverAuth,clientAuth\n")
            if sans and not client:
                f.write("subjectAltName=%s\n" % sans)
        _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
             "-keyout", ident.key, "-out", csr)
        _run("openssl", "x509", "-req", "-in", csr, "-CA", self.ca_pem, "-CAkey", self.ca_key,
             "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", ident.leaf)
        with open(ident.cert, "w") as out:
            for p in (ident.leaf, self.ca_pem):
                with open(p) as f:
                    out.write(f.read())
        _run("openssl", "pkcs8", "-topk8", "-in", ident.key, "-out", ident.key_encrypted,
             "-passout", "pass:" + PASSWORD, "-v2", "aes-256-cbc")
        _run("openssl", "pkcs12", "-export", "-in", ident.leaf, "-inkey", ident.key,
             "-certfile", self.ca_pem, "-name", name, "-out", ident.p12,
             "-passout", "pass:" + PASSWORD)
        if jks:
            self._keytool("-importkeystore", "-srckeystore", ident.p12, "-srcstoretype",
                          "PKCS12", "-srcstorepass", PASSWORD, "-destkeystore", ident.jks,
                          "-deststoretype", "JKS", "-deststorepass", PASSWORD, "-noprompt")
        return ident

    def truststore_p12(self):
        path = os.path.join(self.dir, "truststore.p12")
        if not os.path.exists(path):
            self._keytool("-importcert", "-alias", "ca", "-file", self.ca_pem, "-keystore", path,
                          "-storetype", "PKCS12", "-storepass", PASSWORD, "-noprompt")
        return path

    def truststore_jks(self):
        path = os.path.join(self.dir, "truststore.jks")
        if not os.path.exists(path):
            self._keytool("-importcert", "-alias", "ca", "-file", self.ca_pem, "-keystore", path,
                          "-storetype", "JKS", "-storepass", PASSWORD, "-noprompt")
        return path

    @staticmethod
    def _keytool(*args):
        keytool = shutil.which("keytool") or "/usr/lib/jvm/java-17-openjdk-amd64/bin/keytool"
        _run(keytool, *args)
