"""Variance-preserving diffusion in residual space: schedule, v-parameterisation, loss, sampler.

Each is a separate unit (docs/method.md, "Diffusion"): `schedule` (cosine log-SNR), `parameterisation`
(v-prediction identities), `loss` (L1 or MSE on v), `sampler` (deterministic DDIM).
"""
