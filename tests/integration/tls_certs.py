"""Test certificates for the TLS tests, made at run time with the `openssl`
command line (no key is committed): a CA, server certificates for
127.0.0.1/127.0.0.2/localhost signed by it, a client certificate signed by
it, and a second, unrelated CA with a client certificate of its own (the
"wrong CA"). Everything lives in a temporary directory removed by cleanup().

Keys are P-256 EC keys: quick to make, and every TLS library here takes them.
"""

import os
import shutil
import ssl
import subprocess
import tempfile

OPENSSL = shutil.which("openssl")
# Seconds one openssl command may take.
OPENSSL_TIMEOUT = 30
SERVER_NAMES = "subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost\n"


def _openssl(args, cwd):
    subprocess.run([OPENSSL] + args, cwd=cwd, check=True, timeout=OPENSSL_TIMEOUT,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class TestPki:
    """Files in .dir: ca.crt, server.crt/.key (CN server-1), client.crt/.key,
    wrong-ca.crt, wrong-client.crt/.key. issue_server(name) makes another
    server certificate of the good CA (e.g. for a refresh)."""

    def __init__(self):
        if OPENSSL is None:
            raise RuntimeError("the openssl command is needed for the TLS tests")
        self.dir = tempfile.mkdtemp(prefix="twincache-tls-")
        self._serial = 0
        with open(self.path("server.ext"), "w") as f:
            f.write(SERVER_NAMES)
        with open(self.path("client.ext"), "w") as f:
            f.write("extendedKeyUsage=clientAuth\n")
        self._make_ca("ca", "twincache test CA")
        self._make_ca("wrong-ca", "some other CA")
        self.issue("ca", "server", "server-1", "server.ext")
        self.issue("ca", "client", "client-1", "client.ext")
        self.issue("wrong-ca", "wrong-client", "client-2", "client.ext")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _make_ca(self, name, cn):
        _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", name + ".key", "-out", name + ".crt", "-days", "2", "-subj", "/CN=" + cn],
                 self.dir)

    def issue(self, ca, name, cn, ext):
        """Makes NAME.key and NAME.crt (CN `cn`) signed by CA `ca`."""
        _openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn], self.dir)
        _openssl(["x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
                  "-set_serial", str(self._next_serial()), "-out", name + ".crt", "-days", "2",
                  "-extfile", ext], self.dir)

    def _next_serial(self):
        self._serial += 1
        return self._serial

    def issue_server(self, name, cn):
        """A server certificate NAME.crt/.key of the good CA with CN `cn`."""
        self.issue("ca", name, cn, "server.ext")
        return self.path(name + ".crt"), self.path(name + ".key")

    def client_context(self, ca="ca.crt", cert=None):
        """An ssl.SSLContext verifying the server with `ca` (a file here),
        presenting client certificate `cert` (e.g. "client": client.crt and
        client.key) if given."""
        context = ssl.create_default_context(cafile=self.path(ca))
        if cert is not None:
            context.load_cert_chain(self.path(cert + ".crt"), self.path(cert + ".key"))
        return context

    def server_args(self, *extra_options):
        """-Z and -o with the server certificate, plus `extra_options`
        ("key=value" strings) in the same -o."""
        options = ["ssl_chain_cert=" + self.path("server.crt"), "ssl_key=" + self.path("server.key")]
        return ["-Z", "-o", ",".join(options + list(extra_options))]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
