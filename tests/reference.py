"""The living definition: a float64 numpy implementation of what sqlnet computes.

Written from the mathematics, not from the SQL: the same network, losses, seeded
initialization and shuffle order, so that the SQL can be checked against it number by number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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


def forward(Ws, bs, acts, X, masks=None):
    """Zs and the activations; with dropout masks (one per hidden layer, 0 or 1/(1 − p)),
    each hidden activation is multiplied by its mask before the next layer reads it."""
    A, Zs, As = X, [], [X]
    for i, (W, b, a) in enumerate(zip(Ws, bs, acts)):
        Z = A @ W + b
        A = act(a, Z)
        Zs.append(Z)
        if masks is not None and i < len(Ws) - 1:
            A = A * masks[i]
        As.append(A)
    return Zs, As


def loss_and_delta(loss, Z, A, Y, out_act, weights=None):
    n, k = A.shape
    if loss == "half_sse":
        return 0.5 * ((A - Y) ** 2).sum() / n, (A - Y) * dact(out_act, Z) / n
    if loss == "mse":
        return ((A - Y) ** 2).mean(), 2 * (A - Y) * dact(out_act, Z) / (n * k)
    if loss == "cross_entropy":
        m = Z.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(Z - m).sum(axis=1))
        nll = lse - (Y * Z).sum(axis=1)
        if weights is not None:                     # PyTorch's weight=: a weighted mean
            w = Y @ weights
            return (w * nll).sum() / w.sum(), (A - Y) * w[:, None] / w.sum()
        return nll.mean(), (A - Y) / n
    if loss == "bce":
        L = -(Y * np.log(A) + (1 - Y) * np.log(1 - A)).mean()
        return L, (A - Y) / (n * k)
    raise ValueError(loss)


def gradients(Ws, bs, acts, loss, X, Y, masks=None, weights=None):
    """Loss, then ∂L/∂W and ∂L/∂b of every layer, by backpropagation."""
    Zs, As = forward(Ws, bs, acts, X, masks)
    L, delta = loss_and_delta(loss, Zs[-1], As[-1], Y, acts[-1], weights)
    gW, gb = [None] * len(Ws), [None] * len(Ws)
    for i in range(len(Ws) - 1, -1, -1):
        gW[i] = As[i].T @ delta
        gb[i] = delta.sum(axis=0)
        if i:
            delta = (delta @ Ws[i].T) * dact(acts[i - 1], Zs[i - 1])
            if masks is not None:
                delta = delta * masks[i - 1]
    return L, gW, gb


@dataclass
class Controls:
    """The training controls, with sqlnet's defaults (PyTorch's, mostly)."""

    optimizer: str = "sgd"
    momentum: float = 0.9
    alpha: float = 0.99
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    l1: float = 0.0
    clip_norm: float | None = None
    lr_schedule: str = "constant"
    gamma: float = 0.1
    step_size: int = 10
    power: float = 0.5
    dropout: float = 0.0


def scheduled_lr(c: Controls, lr: float, e: int, epochs: int) -> float:
    """The learning rate of the run's epoch e (0-based): StepLR, ExponentialLR,
    CosineAnnealingLR (eta_min 0) and MADlib's inv."""
    if c.lr_schedule == "step":
        return lr * c.gamma ** (e // c.step_size)
    if c.lr_schedule == "exponential":
        return lr * c.gamma ** e
    if c.lr_schedule == "inv":
        return lr * (1.0 + c.gamma * e) ** (-c.power)
    if c.lr_schedule == "cosine":
        return lr * (1.0 + math.cos(math.pi * e / epochs)) / 2.0
    return lr


class Optimizer:
    """torch.optim's update rules (SGD with momentum/nesterov, RMSprop, Adam, AdamW), written
    from their documented algorithms, after clip_grad_norm_ and an L1 term in the loss."""

    def __init__(self, c: Controls, params):
        self.c, self.t = c, 0
        self.state = [np.zeros_like(p) for p in params]
        self.state2 = [np.zeros_like(p) for p in params]

    def step(self, params, grads, lr):
        c = self.c
        grads = [g + c.l1 * np.sign(p) for p, g in zip(params, grads)]
        if c.clip_norm is not None:
            norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
            grads = [g * min(1.0, c.clip_norm / (norm + 1e-6)) for g in grads]
        if c.optimizer != "adamw":
            grads = [g + c.weight_decay * p for p, g in zip(params, grads)]
        self.t += 1
        return [self._one(i, p, g, lr) for i, (p, g) in enumerate(zip(params, grads))]

    def _one(self, i, p, g, lr):
        c, t = self.c, self.t
        if c.optimizer == "sgd":
            return p - lr * g
        if c.optimizer in ("momentum", "nesterov"):
            self.state[i] = c.momentum * self.state[i] + g
            step = g + c.momentum * self.state[i] if c.optimizer == "nesterov" else self.state[i]
            return p - lr * step
        if c.optimizer == "rmsprop":
            self.state[i] = c.alpha * self.state[i] + (1 - c.alpha) * g * g
            return p - lr * g / (np.sqrt(self.state[i]) + c.eps)
        if c.optimizer in ("adam", "adamw"):
            if c.optimizer == "adamw":
                p = p * (1 - lr * c.weight_decay)
            self.state[i] = c.beta1 * self.state[i] + (1 - c.beta1) * g
            self.state2[i] = c.beta2 * self.state2[i] + (1 - c.beta2) * g * g
            denom = np.sqrt(self.state2[i]) / math.sqrt(1 - c.beta2 ** t) + c.eps
            return p - lr / (1 - c.beta1 ** t) * self.state[i] / denom
        raise ValueError(c.optimizer)


def dropout_masks(widths, seed, epoch, batch, rows, p):
    """Each hidden layer's mask for these samples: 0 where the `mix` hash of (seed, epoch,
    batch, sample, layer, unit) falls below p, else 1/(1 − p)."""
    masks = []
    for layer in range(1, len(widths) - 1):
        u = np.array([[chain(seed * 1000033 + epoch, batch, r, c + layer * 1000003) / P
                       for c in range(widths[layer])] for r in rows])
        masks.append(np.where(u < p, 0.0, 1.0 / (1.0 - p)))
    return masks


def train(Ws, bs, acts, loss, X, Y, lr, batch_size, epochs, seed, shuffle=True, first_epoch=1,
          max_steps=None, controls=None, rows=None, class_weights=None):
    """Mini-batch training; returns the final parameters and every step's loss.

    rows are the samples' row numbers (default 0..n−1); they order the epoch and key the
    dropout masks.
    """
    c = controls or Controls()
    Ws, bs = [W.copy() for W in Ws], [b.copy() for b in bs]
    widths = [Ws[0].shape[0]] + [W.shape[1] for W in Ws]
    rows = list(range(len(X))) if rows is None else list(rows)
    at = {r: i for i, r in enumerate(rows)}
    n, losses = len(X), []
    size = batch_size or n
    opt = Optimizer(c, Ws + bs)
    for epoch in range(first_epoch, first_epoch + epochs):
        rate = scheduled_lr(c, lr, epoch - first_epoch, epochs)
        order = sorted(rows, key=lambda r: (chain(seed * 1000003 + epoch, r), r)) if shuffle else rows
        for start in range(0, n, size):
            if max_steps is not None and len(losses) == max_steps:
                return Ws, bs, losses
            batch = order[start:start + size]
            idx = [at[r] for r in batch]
            masks = dropout_masks(widths, seed, epoch, start // size, batch, c.dropout) \
                if c.dropout > 0 else None
            L, gW, gb = gradients(Ws, bs, acts, loss, X[idx], Y[idx], masks, class_weights)
            losses.append(L)
            new = opt.step(Ws + bs, gW + gb, rate)
            Ws, bs = new[:len(Ws)], new[len(Ws):]
    return Ws, bs, losses
