#!/usr/bin/env python3
"""Generates whole-model reference fixtures (test/fixtures/pytorch/) with PyTorch in float64:
small text classifiers (Embedding -> recurrent layer -> pool -> dense layers) in the layout of
docs/model-format.md, with variable-length batches run through pack_padded_sequence.

For each model NAME it writes:
  NAME.safetensors     the state dict (F32, PyTorch names: embed.weight, rnn.weight_ih_l0, fc.weight, ...)
                       with __metadata__ {"format": "rnnx", "rnnx": <description JSON>}, i.e. an rnnx
                       model file
  NAME.json            the description object alone ({version, input, layers, outputs, ...})
  NAME.io.safetensors  ids I32 [B, T] (padding 0 after each sequence), lengths I32 [B], and
                       expected F64 [B, O]: the model's output computed in float64 from the
                       float32-rounded weights

Pooling is over each sequence's own steps: mean / max / meanmax over t < length, and 'last' =
cat(h_n[-2], h_n[-1]) for a bidirectional layer (forward state at the sequence's end, reverse
state at t = 0), h_n[-1] otherwise. Valid steps never hold id 0, so lengths also follow from the
trailing zeros.

One-off: the committed files are data; tests never run this script.

    /usr/bin/python3 scripts/gen-pytorch-models.py    # Debian's python3-torch (1.13)
"""
import json
import os
import struct

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'pytorch')
VOCAB = 50


# ------------------------------------------------------------------------------------------------
# safetensors writer (no safetensors package needed): 8-byte LE header length, JSON header padded
# with spaces to a multiple of 8, then the tensors' little-endian bytes back to back.

ST_DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I32': torch.int32}


def write_safetensors(path, tensors, meta=None):
    header = {}
    if meta:
        header['__metadata__'] = meta
    blobs, off = [], 0
    for name, (dtype, t) in tensors.items():
        a = t.detach().to(ST_DTYPES[dtype]).contiguous()
        b = a.numpy().astype(a.numpy().dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': dtype, 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ------------------------------------------------------------------------------------------------
# The model: attributes named as the description's layers, so state_dict() gives its tensor names.

class Classifier(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        for layer in spec['layers']:
            t, name = layer['type'], layer.get('name')
            if t == 'embedding':
                pad = layer['padding_idx']
                setattr(self, name, nn.Embedding(layer['num_embeddings'], layer['embedding_dim'], padding_idx=None if pad < 0 else pad))
            elif t in ('lstm', 'gru', 'rnn'):
                kw = dict(num_layers=layer['num_layers'], bidirectional=layer['bidirectional'], bias=layer['bias'], dropout=layer['dropout'])
                if t == 'lstm':
                    mod = nn.LSTM(layer['input_size'], layer['hidden_size'], proj_size=layer['proj_size'], **kw)
                elif t == 'gru':
                    mod = nn.GRU(layer['input_size'], layer['hidden_size'], **kw)
                else:
                    mod = nn.RNN(layer['input_size'], layer['hidden_size'], nonlinearity=layer['nonlinearity'], **kw)
                setattr(self, name, mod)
            elif t == 'dense':
                setattr(self, name, nn.Linear(layer['in_features'], layer['out_features'], bias=layer['bias']))
            elif t == 'dropout':
                pass

    def forward(self, ids, lengths):
        """ids [B, T] (int64), lengths [B] -> output [B, O]."""
        x, seq = ids, True
        T = ids.shape[1]
        for layer in self.spec['layers']:
            t = layer['type']
            mod = getattr(self, layer['name']) if 'name' in layer else None
            if t == 'embedding':
                x = mod(x)  # [B, T, E]
            elif t in ('lstm', 'gru', 'rnn'):
                packed = pack_padded_sequence(x.transpose(0, 1), lengths, enforce_sorted=False)
                out, state = mod(packed)
                h_n = state[0] if t == 'lstm' else state
                y, _ = pad_packed_sequence(out, total_length=T)  # [T, B, D*R], zero at padded steps
                y = y.transpose(0, 1)
                # self-check of the 'last' semantics: forward state = output at the sequence's end,
                # reverse state = output at t = 0
                R = h_n.shape[-1]
                D = 2 if layer['bidirectional'] else 1
                for b in range(ids.shape[0]):
                    assert torch.equal(h_n[-D][b], y[b, lengths[b] - 1, :R])
                    if D == 2:
                        assert torch.equal(h_n[-1][b], y[b, 0, R:])
                x = (y, h_n)
            elif t == 'pool':
                y, h_n = x
                mask = (torch.arange(T)[None, :] < lengths[:, None])[:, :, None]  # [B, T, 1]
                mean = (y * mask).sum(1) / lengths[:, None].to(y.dtype)
                mx = y.masked_fill(~mask, float('-inf')).max(1).values
                mode = layer['mode']
                if mode == 'mean':
                    x = mean
                elif mode == 'max':
                    x = mx
                elif mode == 'meanmax':
                    x = torch.cat([mean, mx], 1)
                else:  # last
                    rec = [l for l in self.spec['layers'] if l['type'] in ('lstm', 'gru', 'rnn')][-1]
                    x = torch.cat([h_n[-2], h_n[-1]], 1) if rec['bidirectional'] else h_n[-1]
                seq = False
            elif t == 'dense':
                x = mod(x)
                act = layer['activation']
                if act == 'relu':
                    x = torch.relu(x)
                elif act == 'tanh':
                    x = torch.tanh(x)
                elif act == 'sigmoid':
                    x = torch.sigmoid(x)
            elif t == 'softmax':
                x = torch.softmax(x, -1)
            elif t == 'dropout':
                pass  # identity at inference
        assert not seq
        return x


def emb(name, dim, pad):
    return {'type': 'embedding', 'name': name, 'num_embeddings': VOCAB, 'embedding_dim': dim, 'padding_idx': pad}


def rec(kind, name, inp, hidden, layers=1, bi=False, proj=0, dropout=0.0, nonlinearity=None):
    d = {'type': kind, 'name': name, 'input_size': inp, 'hidden_size': hidden, 'num_layers': layers, 'bidirectional': bi,
         'bias': True, 'dropout': dropout}
    if kind == 'lstm':
        d['proj_size'] = proj
    if kind == 'rnn':
        d['nonlinearity'] = nonlinearity
    return d


def dense(name, i, o, act='none'):
    return {'type': 'dense', 'name': name, 'in_features': i, 'out_features': o, 'activation': act, 'bias': True}


MODELS = [
    # (a) Embedding(50, 8, padding_idx=0) -> bidirectional LSTM(8, 12) -> max -> Linear(24, 5) -> softmax
    dict(name='lstm_bi_max_softmax', outputs='probabilities', labels=['greet', 'bye', 'time', 'weather', 'music'],
         layers=[emb('embed', 8, 0), rec('lstm', 'rnn', 8, 12, bi=True), {'type': 'pool', 'mode': 'max'},
                 dense('fc', 24, 5), {'type': 'softmax'}]),
    # (b) Embedding -> 2-layer bidirectional GRU (dropout between layers, inactive) -> last -> Linear + relu -> Linear
    dict(name='gru_2layer_last_mlp', outputs='logits',
         layers=[emb('embed', 8, 0), rec('gru', 'rnn', 8, 10, layers=2, bi=True, dropout=0.1), {'type': 'pool', 'mode': 'last'},
                 dense('hidden', 20, 16, 'relu'), dense('fc', 16, 4)]),
    # (c) Embedding (no padding_idx) -> RNN tanh -> mean -> Linear
    dict(name='rnn_tanh_mean', outputs='logits',
         layers=[emb('embed', 6, -1), rec('rnn', 'rnn', 6, 9, nonlinearity='tanh'), {'type': 'pool', 'mode': 'mean'},
                 dense('fc', 9, 3)]),
    # (d) Embedding -> dropout -> bidirectional LSTM with proj_size -> meanmax -> Linear
    dict(name='lstm_proj_meanmax', outputs='logits',
         layers=[emb('embed', 8, 0), {'type': 'dropout', 'p': 0.2}, rec('lstm', 'rnn', 8, 16, bi=True, proj=6),
                 {'type': 'pool', 'mode': 'meanmax'}, dense('fc', 24, 4)]),
    # (e) Embedding -> 2-layer unidirectional RNN relu -> last (h_n[-1]) -> Linear + tanh -> Linear
    dict(name='rnn_relu_2layer_last', outputs='logits',
         layers=[emb('embed', 5, 0), rec('rnn', 'rnn', 5, 7, layers=2, nonlinearity='relu'), {'type': 'pool', 'mode': 'last'},
                 dense('hidden', 7, 6, 'tanh'), dense('fc', 6, 3)]),
]

LENGTHS = [7, 3, 5, 1, 6]
T = 7


def main():
    os.makedirs(OUT, exist_ok=True)
    for m in MODELS:
        name = m['name']
        torch.manual_seed(sum(map(ord, name)))
        desc = {'version': 1, 'input': {'type': 'ids'}, 'layers': m['layers'], 'outputs': m['outputs']}
        if 'labels' in m:
            desc['labels'] = m['labels']
        model = Classifier(desc)
        model.eval()
        with torch.no_grad():
            for p in model.parameters():
                p.uniform_(-0.6, 0.6)
                p.copy_(p.to(torch.float32).to(torch.float64))  # float32-representable weights
            e = desc['layers'][0]
            if e['padding_idx'] >= 0:
                getattr(model, e['name']).weight[e['padding_idx']].zero_()

        B = len(LENGTHS)
        lengths = torch.tensor(LENGTHS, dtype=torch.int64)
        ids = torch.zeros(B, T, dtype=torch.int64)
        for b, n in enumerate(LENGTHS):
            ids[b, :n] = torch.randint(1, VOCAB, (n,))
        with torch.no_grad():
            out = model(ids, lengths)

        sd = model.state_dict()
        meta = {'format': 'rnnx', 'rnnx': json.dumps(desc, separators=(',', ':'))}
        write_safetensors(os.path.join(OUT, f'{name}.safetensors'), {k: ('F32', v) for k, v in sd.items()}, meta)
        with open(os.path.join(OUT, f'{name}.json'), 'w') as f:
            json.dump(desc, f, indent=2)
            f.write('\n')
        write_safetensors(os.path.join(OUT, f'{name}.io.safetensors'),
                          {'ids': ('I32', ids), 'lengths': ('I32', lengths), 'expected': ('F64', out)},
                          {'description': f'{name}: ids [B, T] with 0 after each length, lengths [B], expected [B, O] in float64'})
        sizes = [os.path.getsize(os.path.join(OUT, f'{name}{s}')) for s in ('.safetensors', '.json', '.io.safetensors')]
        print(f'{name}: output {list(out.shape)}, files {sizes} bytes, params {sum(v.numel() for v in sd.values())}')


if __name__ == '__main__':
    main()
