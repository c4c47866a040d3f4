"""PyTorch CPU peer of the rnnx benchmark harness (optional; run by peers/torch.mjs).

Protocol: one JSON job per line on stdin, one JSON answer per line on stdout. A job names a
directory holding the layer-0 weights in the PyTorch layout as raw little-endian float32 files
(<name>.bin) and the input x.bin ([T, B, I], time-major), and says what to time:

  {"cell": "lstm", "I":..., "H":..., "B":..., "T":..., "mode": "stream"|"forward"|"train",
   "needs": [...], "dir": "...", "threads": [1, 2], "budget_ms": 1000, "check_steps": 4}

The answer: {"ok": true, "times": {"1": {"median_ms":..., "samples":...}, ...}, "outputs": {name: file}}
where each output file is raw float32 for the correctness check (stream: "hs", the h of each of the
first check_steps steps from a zero state; forward: "h" or "output"; train: "input" and the weight
gradients under their PyTorch names).
"""
import ctypes
import json
import os
import statistics
import sys
import time

import torch

torch.set_grad_enabled(False)


def openblas():
    """The loaded OpenBLAS (to set its own thread count), or None under another BLAS."""
    with open('/proc/self/maps') as f:
        for line in f:
            path = line.split()[-1]
            if 'openblas' in os.path.basename(path) and '.so' in path:
                try:
                    return ctypes.CDLL(path), path
                except OSError:
                    return None, path
    return None, None


def blas_name():
    with open('/proc/self/maps') as f:
        libs = sorted({l.split()[-1] for l in f if 'blas' in l.split()[-1]})
    return libs


def set_threads(n):
    torch.set_num_threads(n)
    lib, _ = openblas()
    if lib is not None and hasattr(lib, 'openblas_set_num_threads'):
        lib.openblas_set_num_threads(n)


def load(path, shape):
    t = torch.from_file(path, size=int(torch.tensor(shape).prod()), dtype=torch.float32)
    return t.reshape(shape).clone()


def make_module(job):
    cell, I, H = job['cell'], job['I'], job['H']
    cls = {'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU, 'rnn': torch.nn.RNN}[cell]
    m = cls(I, H, num_layers=1, bias=True, batch_first=False)
    G = {'lstm': 4, 'gru': 3, 'rnn': 1}[cell]
    d = job['dir']
    sd = {
        'weight_ih_l0': load(os.path.join(d, 'weight_ih_l0.bin'), [G * H, I]),
        'weight_hh_l0': load(os.path.join(d, 'weight_hh_l0.bin'), [G * H, H]),
        'bias_ih_l0': load(os.path.join(d, 'bias_ih_l0.bin'), [G * H]),
        'bias_hh_l0': load(os.path.join(d, 'bias_hh_l0.bin'), [G * H]),
    }
    m.load_state_dict(sd)
    m.eval()
    return m


def time_fn(fn, budget_ms):
    """Median seconds of fn(): a probe call, then warmup and samples sized to the budget."""
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    budget = budget_ms / 1000.0
    samples = []
    if one * 5 > budget:
        n = max(1, min(3, int(budget / max(one, 1e-9))))
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
    else:
        end = time.perf_counter() + min(0.25, budget / 5)
        while time.perf_counter() < end:
            fn()
        end = time.perf_counter() + budget
        while time.perf_counter() < end or len(samples) < 5:
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
    return statistics.median(samples), len(samples)


def save(d, name, t):
    path = os.path.join(d, f'torch_{name}.bin')
    t.detach().contiguous().to(torch.float32).numpy().tofile(path)
    return path


def run_job(job):
    cell, I, H, B, T = job['cell'], job['I'], job['H'], job['B'], job['T']
    m = make_module(job)
    x = load(os.path.join(job['dir'], 'x.bin'), [T, B, I])
    lstm = cell == 'lstm'
    outputs = {}
    mode = job['mode']
    d = job['dir']

    def zero_state():
        h = torch.zeros(1, B, H)
        return (h, torch.zeros(1, B, H)) if lstm else h

    if mode == 'stream':
        state = zero_state()
        hs = []
        for k in range(job.get('check_steps', 4)):
            y, state = m(x[0:1], state)
            hs.append(y.reshape(-1))
        outputs['hs'] = save(d, 'hs', torch.cat(hs))
        holder = {'s': zero_state()}
        frame = x[0:1]

        def call():
            y, holder['s'] = m(frame, holder['s'])
            return y
    elif mode == 'forward':
        need_all = 'output' in job['needs']
        y, hn = m(x)
        if lstm:
            hn = hn[0]
        if need_all:
            outputs['output'] = save(d, 'output', y)
        else:
            outputs['h'] = save(d, 'h', hn)

        def call():
            return m(x)
    else:  # train: loss = sum(outputs); gradients of the input and every weight
        params = dict(m.named_parameters())

        def step():
            with torch.enable_grad():
                for p in params.values():
                    p.grad = None
                xg = x.detach().requires_grad_(True)
                y, _ = m(xg)
                y.sum().backward()
                return xg.grad

        gx = step()
        outputs['input'] = save(d, 'input', gx)
        for name, p in params.items():
            outputs[name] = save(d, name, p.grad)
        call = step

    times = {}
    for n in job['threads']:
        set_threads(n)
        med, count = time_fn(call, job['budget_ms'])
        times[str(n)] = {'median_ms': med * 1000.0, 'samples': count}
    return {'ok': True, 'times': times, 'outputs': outputs}


def main():
    lib, path = openblas()
    info = {
        'ready': True,
        'torch': torch.__version__,
        'blas': path or ', '.join(blas_name()) or 'unknown',
        'openblas_coretype': os.environ.get('OPENBLAS_CORETYPE'),
        'capability': torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, 'cpu') else None,
    }
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            ans = run_job(json.loads(line))
        except Exception as e:  # reported, not fatal: the harness shows it as an error cell
            ans = {'ok': False, 'error': f'{type(e).__name__}: {e}'}
        print(json.dumps(ans), flush=True)


if __name__ == '__main__':
    main()
