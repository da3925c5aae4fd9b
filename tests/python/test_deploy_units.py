"""The systemd units in deploy/systemd are valid: `systemd-analyze verify`
accepts them with no warning, with ExecStart pointed at the built binaries."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import serdab_testing as st  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNITS = os.path.join(REPO, "deploy", "systemd")


def test_units_verify_without_warnings():
    units = sorted(f for f in os.listdir(UNITS) if f.endswith(".service"))
    assert units, "deploy/systemd has no units"
    with st.temp_dir() as tmp:
        for unit in units:
            with open(os.path.join(UNITS, unit)) as f:
                text = f.read()
            assert "Type=notify" in text, f"{unit}: the daemons tell systemd when they are ready"
            text = text.replace("/usr/local/bin/", os.path.abspath(st.bin_dir()) + "/")
            path = os.path.join(tmp, unit)
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 0, f"{unit}: {r.stdout}{r.stderr}"
            warnings = [line for line in (r.stdout + r.stderr).splitlines() if unit in line]
            assert not warnings, f"{unit}: {warnings}"


if __name__ == "__main__":
    st.run_tests(globals())
