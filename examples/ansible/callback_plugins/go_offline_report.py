# The fleet report of a go_offline roll-out: at the end of every run, one line per host (the Go
# version before and after, changed or not, the receipt id, the error kind and message on a
# failure), written as one JSON file and shown as a table.
from __future__ import annotations

DOCUMENTATION = """
name: go_offline_report
type: aggregate
short_description: One report of every host's Go state at the end of a go_offline run
description:
  - Gathers the go_offline_report facts the go_offline role sets on each host, and the failures
    and unreachable hosts of the run, into one JSON file and a table.
requirements:
  - enabled in callbacks_enabled (ansible.cfg)
options:
  path:
    description: The JSON report file (relative to the directory ansible-playbook runs in).
    default: go-offline-report.json
    env:
      - name: GO_OFFLINE_REPORT
    ini:
      - section: callback_go_offline_report
        key: path
"""

import datetime
import json
import os
import sys

from ansible.plugins.callback import CallbackBase

FIELDS = ("before", "after", "changed", "receipt_id", "from_delta")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "go_offline_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.hosts = {}
        self.plays = []
        self.started = datetime.datetime.now(datetime.timezone.utc)

    def _host(self, name):
        return self.hosts.setdefault(
            name, {"host": name, "status": "not reached", **{k: None for k in FIELDS}, "error": None}
        )

    def v2_playbook_on_play_start(self, play):
        self.plays.append(play.get_name())
        # Every host the play targets is listed, even one a stopped roll-out never reached.
        manager = play.get_variable_manager()
        inventory = getattr(manager, "_inventory", None)
        if inventory is not None:
            for host in inventory.get_hosts(play.hosts):
                self._host(host.get_name())

    def _facts(self, result):
        report = (result._result.get("ansible_facts") or {}).get("go_offline_report")
        if isinstance(report, dict):
            entry = self._host(result._host.get_name())
            for k in FIELDS:
                if k in report:
                    entry[k] = report[k]
            entry["error"] = report.get("error") or None
            if entry["status"] == "not reached":
                entry["status"] = "ok"

    def v2_runner_on_ok(self, result):
        entry = self._host(result._host.get_name())
        if entry["status"] == "not reached":
            entry["status"] = "ok"
        self._facts(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            return
        entry = self._host(result._host.get_name())
        entry["status"] = "failed"
        if not entry["error"]:
            entry["error"] = {
                "kind": "task-failed",
                "message": "%s: %s" % (result._task.get_name(), str(result._result.get("msg", "")).strip()),
            }

    def v2_runner_on_unreachable(self, result):
        if result._task.ignore_unreachable:
            return
        entry = self._host(result._host.get_name())
        entry["status"] = "unreachable"
        entry["error"] = {"kind": "unreachable", "message": str(result._result.get("msg", "")).strip()}

    def v2_playbook_on_stats(self, stats):
        for name in sorted(self.hosts):
            entry = self.hosts[name]
            if entry["status"] == "ok" and entry["error"]:
                entry["status"] = "failed"
        report = {
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "plays": self.plays,
            "summary": {
                "hosts": len(self.hosts),
                "changed": sum(1 for e in self.hosts.values() if e["changed"]),
                "failed": sum(1 for e in self.hosts.values() if e["status"] in ("failed", "unreachable")),
                "not_reached": sum(1 for e in self.hosts.values() if e["status"] == "not reached"),
            },
            "hosts": [self.hosts[n] for n in sorted(self.hosts)],
        }
        path = self.get_option("path")
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
        self._show(report, path)

    def _show(self, report, path):
        rows = [("HOST", "BEFORE", "AFTER", "CHANGED", "RECEIPT", "STATUS / ERROR")]
        for e in report["hosts"]:
            error = e["error"]
            status = "%s: %s" % (error["kind"], error["message"]) if error else e["status"]
            rows.append(
                (
                    e["host"],
                    e["before"] or "-",
                    e["after"] or "-",
                    "yes" if e["changed"] else "no",
                    e["receipt_id"] or "-",
                    status,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["", "GO OFFLINE FLEET REPORT (%s)" % path]
        for r in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5])
        s = report["summary"]
        lines.append(
            "%d hosts: %d changed, %d failed, %d not reached"
            % (s["hosts"], s["changed"], s["failed"], s["not_reached"])
        )
        text = "\n".join(lines) + "\n"
        # A machine-readable stdout callback (json) keeps stdout to itself: the table goes to stderr.
        from ansible import constants as C

        if C.DEFAULT_STDOUT_CALLBACK in ("default", "ansible.builtin.default", "minimal", "ansible.builtin.minimal"):
            self._display.display(text)
        else:
            sys.stderr.write(text)
