"""Child process of tests/test_checkpoint_attacks.py: loads each (entry point, file) job under
memory and time limits and prints one JSON line per job; never prints loaded content.

    python tests/checkpoint_attack_child.py SPEC.json

SPEC: {"jobs": [{"id", "entry", "path"}], "work_dir", "register_globals": bool,
       "memory_headroom_mb", "seconds_per_job"}
"""
import builtins
import json
import os
import resource
import signal
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


class JobTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise JobTimeout()


def main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    import runpy
    import traceback

    import torch
    import torch.distributed.tensor  # noqa: F401  (registers DeviceMesh & co process-wide)
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

    import mmbackbones
    from mmbackbones.weights import safe_load
    if spec.get('register_globals'):
        # What other imports may do: the loader must not care.
        torch.serialization.add_safe_globals([traceback.FrameSummary])
    convert_main = runpy.run_path(os.path.join(REPO, 'tools', 'convert_weights.py'))['main']

    class Tiny(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return self.linear(inputs)

    runner = Runner(model=Tiny(), work_dir=os.path.join(spec['work_dir'], 'runner'),
                    experiment_name='attacks', default_hooks=dict(logger=None))

    def pretrained(path):
        mmbackbones.build_backbone('resnet18', init_cfg=dict(type='Pretrained',
                                                             checkpoint=path)).init_weights()

    def convert_tool(path):
        out = os.path.join(spec['work_dir'], 'converted.pth')
        convert_main([path, out, '--variant', 'resnet18'])

    entries = {
        'safe_load': lambda p: safe_load(p),
        'weights': lambda p: safe_load(p, form='weights'),
        'pretrained': pretrained,
        'checkpoint_loader': lambda p: CheckpointLoader.load_checkpoint(p, map_location='cpu'),
        'load_from': lambda p: runner.load_checkpoint(p),
        'resume': lambda p: runner.resume(p),
        '_load_checkpoint': lambda p: _load_checkpoint(p, map_location='cpu'),
        'convert_tool': convert_tool,
    }

    def state():
        return dict(
            statistics={k: id(v) for k, v in HistoryBuffer._statistics_methods.items()},
            distributed=torch.distributed.is_initialized(),
            safe_globals=sorted(map(str, torch.serialization.get_safe_globals())),
            builtins={k: id(v) for k, v in vars(builtins).items()},
            schemes={k: v.__name__ for k, v in CheckpointLoader._schemes.items()},
        )

    HistoryBuffer()  # registers the default statistics methods, as any mmengine run does
    before = state()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open('/proc/self/statm') as f:
        virtual = int(f.read().split()[0]) * os.sysconf('SC_PAGE_SIZE')
    limit = virtual + spec['memory_headroom_mb'] * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY
                                            else min(limit, hard), hard))
    signal.signal(signal.SIGALRM, _alarm)
    for job in spec['jobs']:
        outcome = dict(id=job['id'], entry=job['entry'])
        signal.alarm(spec['seconds_per_job'])
        start = time.monotonic()
        try:
            result = entries[job['entry']](job['path'])
            outcome.update(outcome='loaded', type=type(result).__name__)
        except JobTimeout:
            outcome.update(outcome='timeout')
        except SystemExit as err:
            outcome.update(outcome='exit', type='SystemExit', message=str(err.code))
        except BaseException as err:  # noqa: B902  (MemoryError included: report, do not die)
            outcome.update(outcome='raised', type=type(err).__name__, message=str(err))
        finally:
            signal.alarm(0)
        outcome['seconds'] = round(time.monotonic() - start, 3)
        now = state()
        outcome['changed'] = sorted(k for k in now if now[k] != before[k])
        outcome['rss_growth_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss
        print(json.dumps(outcome), flush=True)


if __name__ == '__main__':
    main(sys.argv[1])
