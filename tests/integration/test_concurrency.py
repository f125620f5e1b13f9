"""Concurrent clients on the worker threads: read-modify-write commands are atomic.

Several client threads, each with its own connection, hit the same keys with
incr, cas and append; the final values show that no update was lost.
"""

import threading
import unittest

from harness import ServerTestCase

THREADS = 8
INCRS_PER_THREAD = 500
CAS_PER_THREAD = 50
CAS_ATTEMPTS = 5000  # bound on retries per thread
APPENDS_PER_THREAD = 200


class ConcurrencyTest(ServerTestCase):

    def run_threads(self, target):
        errors = []

        def wrapper(index):
            try:
                target(index)
            except Exception as e:  # reported on the main thread
                errors.append(repr(e))
        threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads), "client threads hung")
        self.assertEqual(errors, [])

    def test_incr_is_atomic(self):
        self.client(default_noreply=False).set("counter", b"0")

        def work(_):
            mc = self.server.pymemcache(default_noreply=False)
            try:
                for _ in range(INCRS_PER_THREAD):
                    mc.incr("counter", 1)
            finally:
                mc.close()
        self.run_threads(work)
        self.assertEqual(int(self.client().get("counter")), THREADS * INCRS_PER_THREAD)

    def test_cas_loses_no_update(self):
        self.client(default_noreply=False).set("cas-counter", b"0")
        conflicts = []

        def work(_):
            mc = self.server.pymemcache(default_noreply=False)
            done = attempts = misses = 0
            try:
                while done < CAS_PER_THREAD and attempts < CAS_ATTEMPTS:
                    attempts += 1
                    value, cas = mc.gets("cas-counter")
                    if mc.cas("cas-counter", str(int(value) + 1).encode(), cas):
                        done += 1
                    else:
                        misses += 1
                conflicts.append(misses)
            finally:
                mc.close()
        self.run_threads(work)
        print("cas conflicts per thread: %s" % conflicts)
        self.assertEqual(int(self.client().get("cas-counter")), THREADS * CAS_PER_THREAD)

    def test_append_loses_no_data(self):
        self.client(default_noreply=False).set("log", b"")

        def work(index):
            mc = self.server.pymemcache(default_noreply=False)
            try:
                for _ in range(APPENDS_PER_THREAD):
                    self.assertTrue(mc.append("log", b"%d" % index))
            finally:
                mc.close()
        self.run_threads(work)
        log = self.client().get("log")
        self.assertEqual(len(log), THREADS * APPENDS_PER_THREAD)
        for i in range(THREADS):
            self.assertEqual(log.count(b"%d" % i), APPENDS_PER_THREAD)

    def test_sets_and_gets_from_many_connections(self):
        def work(index):
            mc = self.server.pymemcache(default_noreply=False)
            try:
                for j in range(300):
                    key = "t%d-%d" % (index, j)
                    mc.set(key, key.encode() * 10)
                    self.assertEqual(mc.get(key), key.encode() * 10)
            finally:
                mc.close()
        self.run_threads(work)


if __name__ == "__main__":
    unittest.main()
