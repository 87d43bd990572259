"""The living definition: a float64 numpy implementation of what sqlnet computes.

Written from the mathematics, not from the SQL: the same network, losses, seeded
initialization and shuffle order, so that the SQL can be checked against it number by number.
"""
from __future__ import annotations

import math

import numpy as np

P = 2147483647  # the modulus of sqlnet's `mix` hash


def mix(x: int) -> int:
    x %= P
    return ((x * x % P) * 48271 + 12345) % P


def chain(first: int, *then: int) -> int:
    h = mix(first)
    for t in then:
        h = mix(h + t)
    return h


def init_weights(widths, activations, seed):
    """He (relu-like) or Xavier uniform draws from the `mix` hash; zero biases."""
    Ws, bs = [], []
    for layer, act in enumerate(activations, start=1):
        fan_in, fan_out = widths[layer - 1], widths[layer]
        fan = fan_in if act in ("relu", "leaky_relu") else fan_in + fan_out
        bound = math.sqrt(6.0 / fan)
        W = np.array([[(2.0 * chain(seed * 1009 + layer, r, c) / P - 1.0) * bound
                       for c in range(fan_out)] for r in range(fan_in)])
        Ws.append(W)
        bs.append(np.zeros(fan_out))
    return Ws, bs


def order(n, seed, epoch, shuffle=True):
    """The epoch's sample order."""
    rows = range(n)
    return sorted(rows, key=lambda r: (chain(seed * 1000003 + epoch, r), r)) if shuffle else list(rows)


def act(name, z):
    if name == "identity":
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def dact(name, z):
    """f'(z), from z (the SQL uses f(z); agreeing is part of the check)."""
    if name == "identity":
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(float)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.01)
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    raise ValueError(name)


def forward(Ws, bs, acts, X):
    A, Zs, As = X, [], [X]
    for W, b, a in zip(Ws, bs, acts):
        Z = A @ W + b
        A = act(a, Z)
        Zs.append(Z)
        As.append(A)
    return Zs, As


def loss_and_delta(loss, Z, A, Y, out_act):
    n, k = A.shape
    if loss == "half_sse":
        return 0.5 * ((A - Y) ** 2).sum() / n, (A - Y) * dact(out_act, Z) / n
    if loss == "mse":
        return ((A - Y) ** 2).mean(), 2 * (A - Y) * dact(out_act, Z) / (n * k)
    if loss == "cross_entropy":
        m = Z.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(Z - m).sum(axis=1))
        return (lse - (Y * Z).sum(axis=1)).mean(), (A - Y) / n
    if loss == "bce":
        L = -(Y * np.log(A) + (1 - Y) * np.log(1 - A)).mean()
        return L, (A - Y) / (n * k)
    raise ValueError(loss)


def gradients(Ws, bs, acts, loss, X, Y):
    """Loss, then ∂L/∂W and ∂L/∂b of every layer, by backpropagation."""
    Zs, As = forward(Ws, bs, acts, X)
    L, delta = loss_and_delta(loss, Zs[-1], As[-1], Y, acts[-1])
    gW, gb = [None] * len(Ws), [None] * len(Ws)
    for i in range(len(Ws) - 1, -1, -1):
        gW[i] = As[i].T @ delta
        gb[i] = delta.sum(axis=0)
        if i:
            delta = (delta @ Ws[i].T) * dact(acts[i - 1], Zs[i - 1])
    return L, gW, gb


def train(Ws, bs, acts, loss, X, Y, lr, batch_size, epochs, seed, shuffle=True, first_epoch=1,
          max_steps=None):
    """Plain SGD; returns the final parameters and every step's loss."""
    Ws, bs = [W.copy() for W in Ws], [b.copy() for b in bs]
    n, losses = len(X), []
    size = batch_size or n
    for epoch in range(first_epoch, first_epoch + epochs):
        rows = order(n, seed, epoch, shuffle)
        for start in range(0, n, size):
            if max_steps is not None and len(losses) == max_steps:
                return Ws, bs, losses
            idx = rows[start:start + size]
            L, gW, gb = gradients(Ws, bs, acts, loss, X[idx], Y[idx])
            losses.append(L)
            Ws = [W - lr * g for W, g in zip(Ws, gW)]
            bs = [b - lr * g for b, g in zip(bs, gb)]
    return Ws, bs, losses
