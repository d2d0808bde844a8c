"""Rendering training progress at the CLI edge (the library only emits dict events).

``make_reporter(stream)`` returns an ``on_progress`` callback for :func:`train_adapter`: a
tqdm bar with loss and tokens/s when ``stream`` is a terminal, otherwise one plain line
every ``every`` steps (and for every other event) for CI logs.
"""

from __future__ import annotations

import sys


def make_reporter(stream=None, *, tty: bool | None = None, every: int = 25):
    stream = stream or sys.stderr
    tty = stream.isatty() if tty is None else tty
    bar = None

    def line(text: str) -> None:
        if bar is not None:
            bar.write(text, file=stream)
        else:
            print(text, file=stream, flush=True)

    def report(event: dict) -> None:
        nonlocal bar
        kind = event["event"]
        if kind == "step":
            loss = "n/a" if event.get("loss") is None else f"{event['loss']:.4f}"
            if tty:
                if bar is None:
                    from tqdm import tqdm

                    bar = tqdm(total=event.get("total_steps"), file=stream, unit="step",
                               initial=event["step"] - 1)
                bar.update(event["step"] - bar.n)
                bar.set_postfix(loss=loss, tok_s=f"{event['tokens_per_s']:.0f}")
            elif event["step"] % every == 0 or event["step"] == event.get("total_steps"):
                line(f"step {event['step']}/{event.get('total_steps')} loss {loss} "
                     f"tokens {event['tokens']} tokens/s {event['tokens_per_s']:.0f}")
        elif kind == "done":
            if bar is not None:
                bar.close()
                bar = None
            line(f"done: {event['status']} -> {event['run_dir']}")
        elif kind == "cache_hit":
            line(f"cache hit: {event['run_dir']} (0 training seconds)")
        elif kind == "cache_corrupt":
            line(f"{event['code']} {event['message']}: {event['run_dir']}")
        elif kind == "start":
            line(f"training {event['total_steps']} steps on {event['device']} "
                 f"({event['processes']} process(es)), from step {event['step']}")
        elif kind == "resumed":
            line(f"resumed at step {event['step']} from {event['checkpoint']}")
        elif kind == "checkpoint":
            line(f"checkpoint at step {event['step']}")
        elif kind == "demo":
            line(event["message"])

    return report
