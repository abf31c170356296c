"""Run a management command in a child process that stops at a chosen function, so a test can
line several processes up at the same point before letting them go: the condition of a race,
forced rather than hoped for.

    python -m tests.paused_command keys.outbox:candidates send_campaign_emails --batch-size 25

The first call of the function runs, then the child prints ``PAUSED <digest of its result>`` and
waits for a line on standard input before returning it. Equal digests prove that the processes
saw the same rows.
"""

import hashlib
import importlib
import os
import sys


def main(target: str, command: str, *args: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    module_name, _, function_name = target.partition(":")
    module = importlib.import_module(module_name)
    original = getattr(module, function_name)
    calls = []

    def paused(*call_args, **call_kwargs):
        result = original(*call_args, **call_kwargs)
        if not calls:
            calls.append(result)
            print(f"PAUSED {hashlib.sha256(repr(result).encode()).hexdigest()[:16]}", flush=True)
            sys.stdin.readline()
        return result

    setattr(module, function_name, paused)
    call_command(command, *args)


if __name__ == "__main__":
    main(*sys.argv[1:])
