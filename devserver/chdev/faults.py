"""Failures armed through the devserver's admin endpoint, for reliability tests."""

import threading


class Faults:
    """Failures armed through the admin endpoint, each for the next `count` matching requests.

    A rule is JSON: {"action": "error"|"delay"|"drop", "count": N,
                     "match": "substring of the SQL" (optional, case-insensitive),
                     "code": 210, "status": 500, "message": "..."   (error)
                     "seconds": 2.5                                   (delay)
                     "phase": "before"|"after"}                       (delay, drop)
    `before` acts instead of/ahead of running the query; `after` runs it (the
    data is stored) and then delays or drops the answer.
    """

    ACTIONS = ("error", "delay", "drop")

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def arm(self, rule):
        if not isinstance(rule, dict) or rule.get("action") not in self.ACTIONS:
            raise ValueError(f"action must be one of {self.ACTIONS}")
        rule = {
            "action": rule["action"],
            "count": int(rule.get("count", 1)),
            "match": str(rule.get("match", "")),
            "code": int(rule.get("code", 210)),
            "status": int(rule.get("status", 500)),
            "message": str(rule.get("message", "Injected fault")),
            "seconds": float(rule.get("seconds", 0)),
            "phase": rule.get("phase", "before"),
        }
        if rule["count"] < 1 or rule["phase"] not in ("before", "after"):
            raise ValueError("count must be >= 1 and phase 'before' or 'after'")
        with self.lock:
            self.rules.append(rule)
        return rule

    def take(self, sql):
        with self.lock:
            for rule in self.rules:
                if rule["match"].lower() in sql.lower():
                    rule["count"] -= 1
                    if rule["count"] == 0:
                        self.rules.remove(rule)
                    return dict(rule)
        return None

    def snapshot(self):
        with self.lock:
            return [dict(rule) for rule in self.rules]

    def clear(self):
        with self.lock:
            self.rules.clear()


class DropConnection(Exception):
    """Close the socket without an answer."""
