#!/usr/bin/env python3
"""Checks that built programs and the .rpm stay within the RPM targets.

  check_compat.py --targets packaging/rpm/targets.toml [--rpm FILE] [PROGRAM...]

The targets file (read it for the format) lists, per target system, the
shared libraries the programs may need with the highest symbol version of
each, and the files, packages and capabilities the .rpm may require.

For each PROGRAM, and with --rpm for each ELF file the .rpm holds (extracted
with rpm2cpio and cpio):
  * every DT_NEEDED library is on each target's list (objdump -p);
  * every symbol version it needs from a library (objdump -p, "Version
    References") is in that library's namespace and not above the target's
    maximum; a failure names the symbols that need it (objdump -T);
  * the highest version per namespace (GLIBC, GLIBCXX, CXXABI, GCC, ...) is
    printed, one line per program.
With --rpm also:
  * each requirement (rpm -qp --requires) is a listed library (soname, or a
    symbol version as above), file, package or capability of each target, or
    the package's own config() provide; each recommendation (--recommends) a
    listed package;
  * each Python script in it (a python3 #! line) parses as the target's
    python (ast, feature_version): new syntax only, not new library calls.
Prints every finding, "ok" lines for what passed; exit 0 when all passed,
1 on a finding, 2 on a usage or tool error.
"""

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile
import tomllib

LIBRARY_REQUIRE = re.compile(r"^(?P<lib>[^()\s]+\.so[^()\s]*)\((?P<version>[^)]*)\)\(64bit\)$")
PACKAGE_REQUIRE = re.compile(r"^(?P<name>[A-Za-z0-9_.+-]+)(?:\s*[<>=]+\s*\S+)?$")


def run(command):
    """stdout of `command` (a list); exits 2 with its stderr when it fails."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("check_compat: %s failed (%d): %s" % (" ".join(command), result.returncode, result.stderr.strip()))
    return result.stdout


def version_key(version):
    """'2.3.4' -> (2, 3, 4); None for a version that is not dotted numbers (GLIBC_PRIVATE)."""
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        return None
    return tuple(int(part) for part in version.split("."))


def split_version(name):
    """'GLIBC_2.34' -> ('GLIBC', '2.34'); 'CXXABI_TM_1' -> ('CXXABI_TM', '1')."""
    namespace, _, version = name.rpartition("_")
    return namespace, version


def elf_requirements(path):
    """(needed sonames, {soname: [version names]}) from `objdump -p`."""
    needed, references, current = [], {}, None
    in_references = False
    for line in run(["objdump", "-p", path]).splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "NEEDED":
            needed.append(fields[1])
        elif line.startswith("Version References:"):
            in_references = True
        elif in_references and line.startswith("  required from "):
            current = line.split()[-1].rstrip(":")
            references.setdefault(current, [])
        elif in_references and current and len(fields) == 4 and fields[0].startswith("0x"):
            references[current].append(fields[3])
        elif in_references and line and not line.startswith(" "):
            in_references = False
    return needed, references


def symbols_needing(path, version_name):
    """The undefined dynamic symbols of `path` bound to `version_name` (objdump -T)."""
    symbols = []
    for line in run(["objdump", "-T", path]).splitlines():
        if "*UND*" in line and "(%s)" % version_name in line:
            symbols.append(line.split()[-1])
    return symbols


def check_library_version(target, soname, version_name):
    """None when `soname`'s `version_name` is within `target`, else the reason."""
    library = target["libraries"].get(soname)
    if library is None:
        return "%s is not on the list" % soname
    namespace, version = split_version(version_name)
    if namespace != library["namespace"]:
        return "%s %s: not in its %s namespace" % (soname, version_name, library["namespace"] or "(unversioned)")
    key, limit = version_key(version), version_key(library["max"])
    if key is None or limit is None or key > limit:
        return "%s %s: above %s_%s" % (soname, version_name, library["namespace"], library["max"])
    return None


class Checker:
    def __init__(self, targets):
        self.targets = targets
        self.findings = 0

    def finding(self, text):
        print("FAIL: " + text)
        self.findings += 1

    def check_program(self, path, label):
        needed, references = elf_requirements(path)
        by_namespace = {}
        for names in references.values():
            for name in names:
                by_namespace.setdefault(split_version(name)[0], []).append(name)
        # A version that is not numbered (GLIBC_PRIVATE) counts as the highest.
        maxima = [max(names, key=lambda n: version_key(split_version(n)[1]) or (sys.maxsize,))
                  for _, names in sorted(by_namespace.items())]
        print("%s: needs %s; highest versions: %s" % (label, " ".join(needed) or "nothing",
                                                       " ".join(maxima) or "none"))
        for target_id, target in self.targets.items():
            failed = False
            for soname in needed:
                if soname not in target["libraries"]:
                    self.finding("%s needs %s, not on the list for %s" % (label, soname, target["name"]))
                    failed = True
            for soname, names in sorted(references.items()):
                if soname not in target["libraries"]:
                    continue  # reported above, as a library the target lacks
                for name in names:
                    reason = check_library_version(target, soname, name)
                    if reason:
                        symbols = symbols_needing(path, name)
                        self.finding("%s for %s: %s (symbols: %s)" % (
                            label, target["name"], reason, " ".join(symbols) or "none listed"))
                        failed = True
            if not failed:
                print("ok: %s within %s" % (label, target_id))

    def check_requires(self, rpm_file):
        name = run(["rpm", "-qp", "--qf", "%{NAME}", rpm_file]).strip()
        requires = sorted({line.strip() for line in run(["rpm", "-qp", "--requires", rpm_file]).splitlines()
                           if line.strip()})
        recommends = [line.strip() for line in run(["rpm", "-qp", "--recommends", rpm_file]).splitlines()
                      if line.strip()]
        print("rpm requires:\n  " + "\n  ".join(requires))
        for target_id, target in self.targets.items():
            failed = False
            for require in requires:
                reason = self.require_reason(target, name, require)
                if reason:
                    self.finding("%s for %s: %s" % (require, target["name"], reason))
                    failed = True
            for recommend in recommends:
                match = PACKAGE_REQUIRE.match(recommend)
                if not match or match.group("name") not in target["packages"]:
                    self.finding("recommends %s: no such package listed for %s" % (recommend, target["name"]))
                    failed = True
            if not failed:
                print("ok: the rpm's requirements are within %s" % target_id)

    @staticmethod
    def require_reason(target, own_name, require):
        """None when `require` is satisfied on `target`, else why not."""
        capability = require.split(" ")[0]
        if capability in target["capabilities"]:
            return None
        if capability == "config(%s)" % own_name:
            return None
        if capability.startswith("/"):
            return None if capability in target["files"] else "no such file listed"
        match = LIBRARY_REQUIRE.match(capability)
        if match:
            if match.group("version") == "":
                return None if match.group("lib") in target["libraries"] else "library not listed"
            return check_library_version(target, match.group("lib"), match.group("version"))
        match = PACKAGE_REQUIRE.match(require)
        if match and "(" not in capability:
            return None if match.group("name") in target["packages"] else "package not listed"
        return "not a listed capability"

    def check_python(self, path, label):
        with open(path, "rb") as f:
            source = f.read()
        for target_id, target in self.targets.items():
            major, minor = (int(part) for part in target["python"].split(".")[:2])
            try:
                ast.parse(source, filename=label, feature_version=(major, minor))
            except SyntaxError as error:
                self.finding("%s does not parse as Python %s (%s): %s" % (
                    label, target["python"], target["name"], error))
                continue
            print("ok: %s parses as Python %s (%s)" % (label, target["python"], target_id))


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def python_shebang(path):
    with open(path, "rb") as f:
        first = f.readline(200)
    return first.startswith(b"#!") and b"python3" in first


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", required=True, help="packaging/rpm/targets.toml")
    parser.add_argument("--rpm", help="the .rpm: its programs, scripts and requirements")
    parser.add_argument("programs", nargs="*", help="ELF programs from the build tree")
    args = parser.parse_args()
    if not args.rpm and not args.programs:
        parser.error("give --rpm or programs")
    with open(args.targets, "rb") as f:
        targets = tomllib.load(f)
    checker = Checker(targets)
    print("targets: " + "; ".join("%s = %s" % (key, target["name"]) for key, target in targets.items()))
    for program in args.programs:
        checker.check_program(program, os.path.basename(program))
    if args.rpm:
        with tempfile.TemporaryDirectory() as tree:
            payload = subprocess.Popen(["rpm2cpio", args.rpm], stdout=subprocess.PIPE)
            subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], stdin=payload.stdout,
                           cwd=tree, check=True)
            payload.stdout.close()
            if payload.wait() != 0:
                sys.exit("check_compat: rpm2cpio %s failed" % args.rpm)
            elf_count = 0
            for directory, _, files in sorted(os.walk(tree)):
                for file_name in sorted(files):
                    path = os.path.join(directory, file_name)
                    label = "/" + os.path.relpath(path, tree)
                    if os.path.islink(path) or not os.path.isfile(path):
                        continue
                    if is_elf(path):
                        checker.check_program(path, label)
                        elf_count += 1
                    elif python_shebang(path):
                        checker.check_python(path, label)
            if elf_count == 0:
                checker.finding("%s holds no ELF program" % args.rpm)
        checker.check_requires(args.rpm)
    if checker.findings:
        print("check_compat: %d finding(s)" % checker.findings)
        return 1
    print("check_compat: all within " + ", ".join(targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
