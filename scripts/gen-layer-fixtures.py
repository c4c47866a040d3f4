#!/usr/bin/env python3
"""Generates extra layer fixtures (test/fixtures/layers/*.safetensors) with PyTorch in float64, in the
format of ../shared/fixtures/README.md, covering configurations the shared fixtures do not: more
layers, projection with bidirectional and batch_first, no bias, unsorted lengths, batch 1, long
sequences, wider layers. One-off: the committed files are data; tests never run this script.

    /usr/bin/python3 scripts/gen-layer-fixtures.py    # Debian's python3-torch
"""
import json
import os
import struct

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'layers')

CASES = [
    dict(name='x_lstm_proj_bi_3layer_bf', cell='lstm', I=7, H=10, P=4, L=3, bi=True, bf=True, bias=True, T=9, B=4, lengths=[5, 9, 1, 7], init=True),
    dict(name='x_gru_nobias_bi_2layer', cell='gru', I=6, H=9, P=0, L=2, bi=True, bf=False, bias=False, T=8, B=3, lengths=[3, 8, 6], init=False),
    dict(name='x_rnn_relu_bi_3layer_bf', cell='rnn', nl='relu', I=5, H=11, P=0, L=3, bi=True, bf=True, bias=True, T=7, B=3, lengths=[7, 2, 4], init=True),
    dict(name='x_lstm_long_batch1', cell='lstm', I=3, H=20, P=0, L=1, bi=False, bf=False, bias=True, T=150, B=1, lengths=[150], init=True),
    dict(name='x_gru_wide', cell='gru', I=48, H=80, P=0, L=1, bi=False, bf=False, bias=True, T=15, B=6, lengths=[15, 15, 9, 12, 3, 15], init=True),
    dict(name='x_rnn_tanh_nobias_bf', cell='rnn', nl='tanh', I=4, H=6, P=0, L=2, bi=False, bf=True, bias=False, T=10, B=2, lengths=[10, 6], init=False),
    dict(name='x_lstm_bi_proj_nostate', cell='lstm', I=5, H=12, P=5, L=2, bi=True, bf=False, bias=True, T=6, B=5, lengths=[1, 6, 4, 2, 6], init=False),
    dict(name='x_gru_len1', cell='gru', I=3, H=5, P=0, L=1, bi=True, bf=False, bias=True, T=1, B=2, lengths=[1, 1], init=True),
]


def write(path, tensors, meta):
    header = {'__metadata__': meta}
    blobs = []
    off = 0
    for k, (dtype, t) in tensors.items():
        a = t.detach().contiguous()
        if dtype == 'F32':
            b = a.to(torch.float32).numpy().tobytes()
        elif dtype == 'F64':
            b = a.to(torch.float64).numpy().tobytes()
        else:
            b = a.to(torch.int64).numpy().tobytes()
        header[k] = {'dtype': dtype, 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def f32(t):
    return t.to(torch.float32).to(torch.float64)


def run(c):
    torch.manual_seed(sum(map(ord, c['name'])))
    cls = {'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU, 'rnn': torch.nn.RNN}[c['cell']]
    kw = dict(input_size=c['I'], hidden_size=c['H'], num_layers=c['L'], bidirectional=c['bi'], batch_first=c['bf'], bias=c['bias'])
    if c['cell'] == 'lstm':
        kw['proj_size'] = c['P']
    if c['cell'] == 'rnn':
        kw['nonlinearity'] = c['nl']
    m = cls(**kw).double()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(f32(p))
    T, B, D = c['T'], c['B'], 2 if c['bi'] else 1
    R = c['P'] if c['P'] else c['H']
    shape = (B, T, c['I']) if c['bf'] else (T, B, c['I'])
    x = f32(torch.randn(*shape, dtype=torch.float64)).requires_grad_(True)
    lengths = torch.tensor(c['lengths'], dtype=torch.int64)
    h0 = f32(torch.randn(c['L'] * D, B, R, dtype=torch.float64) * 0.5).requires_grad_(True) if c['init'] else None
    c0 = f32(torch.randn(c['L'] * D, B, c['H'], dtype=torch.float64) * 0.5).requires_grad_(True) if c['init'] and c['cell'] == 'lstm' else None
    packed = pack_padded_sequence(x, lengths, batch_first=c['bf'], enforce_sorted=False)
    if c['cell'] == 'lstm':
        out, (hn, cn) = m(packed, (h0, c0) if c['init'] else None)
    else:
        out, hn = m(packed, h0)
        cn = None
    y, _ = pad_packed_sequence(out, batch_first=c['bf'], total_length=T)
    g_out = torch.randn_like(y)
    g_hn = torch.randn_like(hn)
    loss = (y * g_out).sum() + (hn * g_hn).sum()
    g_cn = None
    if cn is not None:
        g_cn = torch.randn_like(cn)
        loss = loss + (cn * g_cn).sum()
    names = [n for n, _ in m.named_parameters()]
    params = [p for _, p in m.named_parameters()]
    wrt = [x] + ([h0] if h0 is not None else []) + ([c0] if c0 is not None else []) + params
    grads = torch.autograd.grad(loss, wrt)
    gi = iter(grads)
    t = {}
    for n, p in zip(names, params):
        t[n] = ('F32', p)
    t['input'] = ('F32', x)
    if h0 is not None:
        t['h0'] = ('F32', h0)
    if c0 is not None:
        t['c0'] = ('F32', c0)
    t['lengths'] = ('I64', lengths)
    t['expected.output'] = ('F64', y)
    t['expected.h_n'] = ('F64', hn)
    if cn is not None:
        t['expected.c_n'] = ('F64', cn)
    t['g_output'] = ('F64', g_out)
    t['g_h_n'] = ('F64', g_hn)
    if g_cn is not None:
        t['g_c_n'] = ('F64', g_cn)
    t['expected.grad.input'] = ('F64', next(gi))
    if h0 is not None:
        t['expected.grad.h0'] = ('F64', next(gi))
    if c0 is not None:
        t['expected.grad.c0'] = ('F64', next(gi))
    for n in names:
        t['expected.grad.' + n] = ('F64', next(gi))
    meta = {
        'name': json.dumps(c['name']), 'cell': json.dumps(c['cell']),
        'nonlinearity': json.dumps(c.get('nl')), 'input_size': str(c['I']), 'hidden_size': str(c['H']),
        'proj_size': str(c['P']), 'num_layers': str(c['L']), 'bidirectional': json.dumps(c['bi']),
        'batch_first': json.dumps(c['bf']), 'bias': json.dumps(c['bias']), 'seq_len': str(T), 'batch': str(B),
        'has_initial_state': json.dumps(c['init']), 'reference': json.dumps('torch %s float64' % torch.__version__),
        'generator': json.dumps('scripts/gen-layer-fixtures.py'),
    }
    write(os.path.join(OUT, c['name'] + '.safetensors'), t, meta)


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    for c in CASES:
        run(c)
        print('wrote', c['name'])
