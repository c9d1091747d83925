#!/usr/bin/python3
"""Proves, with an independent X.509 implementation (Debian's python3-cryptography), that the
cacerts bundles `meshctl pki` writes are what Istio needs: ca-cert.pem's signature verifies
under root-cert.pem's key, the root is self-signed, both are CAs with critical basicConstraints
(no pathlen) and critical keyUsage keyCertSign+cRLSign, key identifiers link the two, the
subject is Istio's, the serial is 128-bit, ca-key.pem is ca-cert.pem's key, and cert-chain.pem
is the intermediate then the root. Checks EC (default) and RSA (--rsa) roots.

Usage: crypto_check.py            generate bundles with meshctl in a temp dir and check them
       crypto_check.py DIR        check an existing cacerts folder"""
import os
import shutil
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

BUILD = os.environ.get("MC_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
MESHCTL = os.path.abspath(os.path.join(BUILD, "meshctl"))


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def load_certs(path):
    data = open(path, "rb").read()
    marker = b"-----END CERTIFICATE-----"
    blocks = [b + marker + b"\n" for b in data.split(marker) if b.strip()]
    return [x509.load_pem_x509_certificate(b) for b in blocks]


def verify_signed_by(cert, issuer):
    key = issuer.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                   cert.signature_hash_algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes,
                   ec.ECDSA(cert.signature_hash_algorithm))
    else:
        fail(f"unexpected key type {type(key)}")
    expect(cert.issuer == issuer.subject, "issuer name is not the root's subject")


def check_ca_extensions(cert, what):
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    expect(bc.critical, f"{what}: basicConstraints not critical")
    expect(bc.value.ca, f"{what}: not CA:TRUE")
    expect(bc.value.path_length is None, f"{what}: has a pathlen")
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    expect(ku.critical, f"{what}: keyUsage not critical")
    expect(ku.value.key_cert_sign and ku.value.crl_sign, f"{what}: keyUsage lacks signing bits")
    expect(not ku.value.digital_signature, f"{what}: unexpected digitalSignature")
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    expect(ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()),
           f"{what}: subjectKeyIdentifier is not the key's hash")
    expect(cert.signature_hash_algorithm.name == "sha256", f"{what}: not SHA-256")
    expect(120 <= cert.serial_number.bit_length() <= 128, f"{what}: serial not ~128-bit")
    return ski


def check_dir(d, cluster=None):
    ca = load_certs(os.path.join(d, "ca-cert.pem"))
    roots = load_certs(os.path.join(d, "root-cert.pem"))
    chain = load_certs(os.path.join(d, "cert-chain.pem"))
    expect(len(ca) == 1 and len(roots) == 1, "ca-cert.pem / root-cert.pem hold one cert each")
    ca, root = ca[0], roots[0]
    expect(len(chain) == 2 and chain[0] == ca and chain[1] == root,
           "cert-chain.pem is not ca-cert then root-cert")

    verify_signed_by(root, root)
    verify_signed_by(ca, root)
    root_ski = check_ca_extensions(root, "root")
    check_ca_extensions(ca, "ca-cert")
    aki = ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    expect(aki.key_identifier == root_ski.digest, "authorityKeyIdentifier is not the root's")
    expect(ca.not_valid_after <= root.not_valid_after, "intermediate outlives the root")

    org = ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    cn = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    loc = ca.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value
    expect((org, cn) == ("Istio", "Intermediate CA"), f"subject {ca.subject.rfc4514_string()}")
    if cluster:
        expect(loc == cluster, f"L={loc}, want {cluster}")
    san = ca.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    expect(san.get_values_for_type(x509.DNSName) == ["istiod.istio-system.svc"], "SAN")

    key = serialization.load_pem_private_key(open(os.path.join(d, "ca-key.pem"), "rb").read(),
                                             password=None)
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    expect(key.public_key().public_bytes(enc, pub) == ca.public_key().public_bytes(enc, pub),
           "ca-key.pem is not ca-cert.pem's key")
    mode = os.stat(os.path.join(d, "ca-key.pem")).st_mode & 0o777
    expect(mode == 0o600, f"ca-key.pem mode {oct(mode)}")
    print(f"ok: {d} ({type(key).__name__}, root {root.subject.rfc4514_string()})")


def main():
    if len(sys.argv) > 1:
        check_dir(sys.argv[1])
        return
    tmp = tempfile.mkdtemp(prefix="pki-crypto-")
    try:
        for flavour, extra in (("ec", []), ("rsa", ["--rsa"])):
            root = os.path.join(tmp, flavour, "root")
            out = os.path.join(tmp, flavour, "cluster")
            subprocess.run([MESHCTL, "pki", "root", "--out", root, *extra], check=True,
                           capture_output=True, timeout=120)
            subprocess.run([MESHCTL, "pki", "intermediate", "--cluster", f"{flavour}-cluster",
                            "--root", root, "--out", out], check=True, capture_output=True,
                           timeout=120)
            check_dir(out, f"{flavour}-cluster")
            key = serialization.load_pem_private_key(open(os.path.join(out, "ca-key.pem"), "rb")
                                                     .read(), password=None)
            want = rsa.RSAPrivateKey if flavour == "rsa" else ec.EllipticCurvePrivateKey
            expect(isinstance(key, want), f"{flavour}: intermediate key is {type(key).__name__}")
        # The check itself must be able to fail: a bundle whose chain was swapped.
        bad = os.path.join(tmp, "ec", "cluster")
        chain = open(os.path.join(bad, "cert-chain.pem")).read()
        ca = open(os.path.join(bad, "ca-cert.pem")).read()
        with open(os.path.join(bad, "cert-chain.pem"), "w") as f:
            f.write(chain[len(ca):] + ca)
        p = subprocess.run([sys.executable, __file__, bad], capture_output=True, text=True)
        expect(p.returncode == 1 and "cert-chain.pem" in p.stdout, "swapped chain not caught")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
