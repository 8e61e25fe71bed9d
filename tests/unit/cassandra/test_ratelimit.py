import threading

import pytest

from chalicelib.cassandra.ratelimit import TokenBucket


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_burst_is_free_then_rate_applies():
    clock = FakeClock()
    bucket = TokenBucket(100, burst=50, clock=clock, sleep=clock.sleep)
    assert bucket.acquire(50) == 0
    slept = bucket.acquire(10)
    assert slept == pytest.approx(0.1)
    assert clock.now == pytest.approx(0.1)


def test_long_run_rate_holds():
    clock = FakeClock()
    bucket = TokenBucket(1000, burst=100, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        bucket.acquire(100)
    # 10,000 units at 1,000/s with a 100 burst: ~9.9 s
    assert clock.now == pytest.approx(9.9, rel=1e-6)


def test_request_larger_than_burst_goes_into_debt():
    clock = FakeClock()
    bucket = TokenBucket(10, burst=5, clock=clock, sleep=clock.sleep)
    assert bucket.acquire(20) == 0  # full bucket admits one big request
    bucket.acquire(5)  # pays the debt of 15 plus 5: 2 s
    assert clock.now == pytest.approx(2.0)


def test_refill_caps_at_burst():
    clock = FakeClock()
    bucket = TokenBucket(10, burst=5, clock=clock, sleep=clock.sleep)
    bucket.acquire(5)
    clock.now += 100
    assert bucket.acquire(5) == 0
    assert bucket.acquire(1) == pytest.approx(0.1)


@pytest.mark.parametrize("rate,burst", [(0, None), (-1, None), (10, 0)])
def test_invalid(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


def test_zero_acquire_and_threads():
    clock = FakeClock()
    bucket = TokenBucket(1_000_000, burst=1_000_000, clock=clock, sleep=clock.sleep)
    assert bucket.acquire(0) == 0
    threads = [threading.Thread(target=lambda: [bucket.acquire(1) for _ in range(1000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bucket._tokens == 1_000_000 - 4000  # no unit lost or double-counted under contention
