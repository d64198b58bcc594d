"""The mogrifier recurrence's two time loops in C++ (CPU): an optional build, never needed to load or run a model.

[`mogrifier`](mogrifier.py) runs the recurrence as two loops (forward over t, backpropagation through time back),
written once in Python/TorchScript (`_recurrence_forward`, `_recurrence_backward`). This module is the same two
loops in C++ with the same signatures and results: between the per-step matrix products, which go to the same
packed GEMMs (oneDNN, MKL or `at::mm`), the step's element-wise work is a few fused passes over raw memory instead
of 10–13 separate tensor operations, each with its interpreter and dispatch overhead. Measured on an AMD EPYC
(Zen 5, 1 thread, BENCHMARKS.md) they take forward+backward from ~560 to ~400 ms (1.4×) and the forward by ~5 %;
on an Intel Xeon the forward gain was ~4 %. float32/float64 only; other dtypes run the TorchScript loops.

It is built only when asked — [`build_kernel`], `LOOPS = "cpp"`, or `HF_EMOTION_MOGRIFIER_KERNEL=build` —
which needs a C++ compiler and ninja (`pip install hf_emotion[kernel]`) and takes about half a minute once per
machine:

    python -c "from hf_emotion.models.mogrifier_kernel import build_kernel; build_kernel()"

The build lives under ``~/.cache/hf_emotion/kernels`` (`HF_EMOTION_CACHE`), named by the source, CPU, flags and
torch version, and later processes load it without any compiler. Without a build (a model loaded from the Hub with
`trust_remote_code`, a machine with no compiler) the TorchScript loops run: same values. `PATH` is left as it was
(the `ninja` package's directory is added for the build's duration only).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from typing import Optional

import torch

from .acceleration import cache_root, cpu_description

logger = logging.getLogger(__name__)

_NAMESPACE = "hf_emotion_mogrifier"

_SOURCE = r"""
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#ifdef __linux__
#include <sys/mman.h>
#endif
#include <tuple>
#include <vector>

namespace {

using at::Tensor;
using Tensors = std::vector<Tensor>;

constexpr int64_t kMklPacking = 1;
constexpr int64_t kOnednnPacking = 2;

c10::IValue optional_tensor(const std::optional<Tensor>& t) { return t ? c10::IValue(*t) : c10::IValue(); }

Tensor call_boxed(const c10::OperatorHandle& op, torch::jit::Stack stack) {
  op.callBoxed(&stack);
  return stack[0].toTensor();
}

const c10::OperatorHandle& onednn_linear_op() {
  static const c10::OperatorHandle op =
      c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "");
  return op;
}

// a @ weight.T (+ bias), then σ when `sigmoid`, through the packed GEMM `packing` with `packed` (see
// mogrifier._linear).
Tensor linear(const Tensor& a, const Tensor& weight, const Tensor& packed, const std::optional<Tensor>& bias,
              int64_t packing, bool sigmoid = false) {
  if (packing == kOnednnPacking) {  // the sigmoid fused into oneDNN's product
    return call_boxed(onednn_linear_op(), {a, packed, optional_tensor(bias),
                                           c10::IValue(std::string(sigmoid ? "sigmoid" : "none")),
                                           c10::IValue(c10::List<std::optional<at::Scalar>>()), c10::IValue()});
  }
  Tensor out;
  if (packing == kMklPacking) {
    static const c10::OperatorHandle op = c10::Dispatcher::singleton().findSchemaOrThrow("mkl::_mkl_linear", "");
    out = call_boxed(op, {a, packed, weight, optional_tensor(bias), c10::IValue(a.size(0))});
  } else {
    out = bias ? at::addmm(*bias, a, weight.t()) : at::mm(a, weight.t());
  }
  return sigmoid ? out.sigmoid_() : out;
}

// base + a @ weight.T (see linear)
Tensor linear_add(const Tensor& base, const Tensor& a, const Tensor& weight, const Tensor& packed, int64_t packing) {
  if (packing == kOnednnPacking) {
    static const c10::OperatorHandle op =
        c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "binary");
    return call_boxed(op, {a, base, packed, c10::IValue(), c10::IValue(std::string("add"))});
  }
  if (packing == kMklPacking) return linear(a, weight, packed, std::nullopt, packing).add_(base);
  return at::addmm(base, a, weight.t());
}

template <typename T>
T* ptr(const Tensor& t) { return t.data_ptr<T>(); }

// An uninitialised (time, batch, ·) buffer like `like`, backed by transparent huge pages where Linux offers them
// (madvise mode): the loops touch these buffers for the first time, and 2 MB pages take 512× fewer page faults
// than 4 kB ones (each costs microseconds in a virtual machine).
Tensor big_empty(const Tensor& like, at::IntArrayRef sizes) {
  Tensor out = like.new_empty(sizes);
#ifdef __linux__
  constexpr uintptr_t huge = uintptr_t(1) << 21;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(out.data_ptr());
  const uintptr_t end = begin + out.nbytes();
  const uintptr_t first = (begin + huge - 1) & ~(huge - 1), last = end & ~(huge - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
  return out;
}

// a (rows, cols) → a^T contiguous (cols, rows), in 32 × 32 tiles (several times faster than a strided copy_).
template <typename T>
Tensor transposed(const Tensor& a) {
  const Tensor src = a.contiguous();
  const int64_t rows = src.size(0), cols = src.size(1);
  auto out = big_empty(src, {cols, rows});
  const T* in = ptr<T>(src);
  T* o = ptr<T>(out);
  constexpr int64_t tile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const int64_t r1 = std::min(rows, r0 + tile);
    for (int64_t c0 = 0; c0 < cols; c0 += tile) {
      const int64_t c1 = std::min(cols, c0 + tile);
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t r = r0; r < r1; ++r) o[c * rows + r] = in[r * cols + c];
      }
    }
  }
  return out;
}

// a^T for a (rows, m) matrix, as the weight-gradient products below want it: contiguous for oneDNN (which would
// copy a non-contiguous first operand on every call, far slower than `transposed`), a view for at::mm.
template <typename T>
Tensor first_operand(const Tensor& a, int64_t packing) {
  return packing == kOnednnPacking ? transposed<T>(a) : a.t();
}

// a_t @ b for a_t = first_operand(a) and b (rows, n): a weight gradient, one product over all time steps.
Tensor matmul_tn(const Tensor& a_t, const Tensor& b, int64_t packing) {
  if (packing == kOnednnPacking) {  // oneDNN reads b^T as a strided view
    return call_boxed(onednn_linear_op(), {a_t, b.t(), c10::IValue(), c10::IValue(std::string("none")),
                                           c10::IValue(c10::List<std::optional<at::Scalar>>()), c10::IValue()});
  }
  return at::mm(a_t, b);
}

// ------------------------------------------------------------------------------------------------------------
// Forward: mogrifier._recurrence_forward, step for step.
// ------------------------------------------------------------------------------------------------------------
template <typename T>
std::tuple<Tensor, Tensors> forward_impl(const Tensor& x, const Tensor& gate1, const Tensor& weight_ih,
                                         const Tensor& weight_hh, const Tensor& bias, const Tensors& round_weights,
                                         const Tensors& round_biases, const Tensors& packed, int64_t packing,
                                         bool hoisted, bool save) {
  const int64_t steps = x.size(0), batch = x.size(1), width = x.size(2), hidden = weight_hh.size(1);
  const int64_t rounds = gate1.numel() > 0 ? 1 + static_cast<int64_t>(round_weights.size()) : 0;
  const int64_t bh = batch * hidden, bx = batch * width;
  auto empty = x.new_empty({0});
  const Tensor& packed_ih = packed.empty() ? empty : packed[0];
  const Tensor& packed_hh = packed.empty() ? empty : packed[1];
  auto packed_round = [&](int64_t k) -> const Tensor& { return packed.empty() ? empty : packed[k]; };

  auto outputs = big_empty(x, {steps, batch, hidden});
  auto activations = big_empty(x, {steps, batch, 4 * hidden});  // σ(i), σ(f), tanh(g), σ(o)
  auto cells = big_empty(x, {steps, batch, hidden});
  auto tanh_cells = big_empty(x, {steps, batch, hidden});
  // h-version j: h after odd round 2j − 1 (version 0 = h_{t−1}); x-version j: x after even round 2j (0 = x_t)
  Tensors h_versions, x_versions{x}, round_gates;
  if (save) {
    for (int64_t j = 0; j < (rounds + 1) / 2 + 1; ++j) h_versions.push_back(big_empty(x, {steps, batch, hidden}));
    for (int64_t j = 0; j < rounds / 2; ++j) x_versions.push_back(big_empty(x, x.sizes()));
    for (const auto& w : round_weights) round_gates.push_back(big_empty(x, {steps, batch, w.size(0)}));
  }
  auto h_work = x.new_zeros({batch, hidden});  // the current h-version when nothing is saved
  auto x_work = x.new_empty({batch, width});
  auto c_zero = x.new_zeros({batch, hidden});
  auto c_work = x.new_empty({batch, hidden});
  const T* g1 = rounds >= 1 ? ptr<T>(gate1) : nullptr;
  const std::optional<Tensor> lstm_bias = bias;

  Tensor h = h_work;  // (B, H): h_{t−1}, then its mogrified versions
  for (int64_t t = 0; t < steps; ++t) {
    Tensor xt = x[t];
    if (rounds >= 1) {  // round 1 (eqs. 8–9), its gate hoisted: h ← h ⊙ (1 + 2·σ(W_1 x_t + b_1))
      Tensor next = save ? h_versions[1][t] : h_work;
      const T* hp = ptr<T>(h);
      const T* gp = g1 + t * bh;
      T* np = ptr<T>(next);
      for (int64_t j = 0; j < bh; ++j) np[j] = hp[j] + T(2) * hp[j] * gp[j];
      h = next;
    }
    for (int64_t k = 2; k <= rounds; ++k) {
      const bool even = k % 2 == 0;  // even rounds gate x by h (eqs. 10–11), odd ones h by x (eqs. 8–9)
      Tensor gate = linear(even ? h : xt, round_weights[k - 2], packed_round(k), round_biases[k - 2], packing,
                           /*sigmoid=*/true);  // (B, input) or (B, H)
      Tensor old = even ? xt : h;
      Tensor next = save ? (even ? x_versions[k / 2][t] : h_versions[(k + 1) / 2][t])
                         : (even ? x_work : h_work);
      const int64_t n = even ? bx : bh;
      const T* op = ptr<T>(old);
      const T* gp = ptr<T>(gate);
      T* np = ptr<T>(next);
      if (save) {
        T* sp = ptr<T>(round_gates[k - 2][t]);
        for (int64_t j = 0; j < n; ++j) {
          sp[j] = gp[j];
          np[j] = op[j] + T(2) * op[j] * gp[j];
        }
      } else {
        for (int64_t j = 0; j < n; ++j) np[j] = op[j] + T(2) * op[j] * gp[j];
      }
      if (even) xt = next; else h = next;
    }
    Tensor z = hoisted ? linear_add(xt, h, weight_hh, packed_hh, packing)
                       : linear_add(linear(xt, weight_ih, packed_ih, lstm_bias, packing), h, weight_hh,
                                    packed_hh, packing);  // (B, 4H)
    // The gates: σ for i, f, o and tanh(g) = 2σ(2g) − 1 (ATen's vectorised sigmoid is several times faster than
    // its tanh; the two agree to float rounding), then c_t = f ⊙ c_{t−1} + i ⊙ g and h_t = o ⊙ tanh(c_t).
    T* zp = ptr<T>(z);
    for (int64_t b = 0; b < batch; ++b) {
      T* zg = zp + b * 4 * hidden + 2 * hidden;
      for (int64_t j = 0; j < hidden; ++j) zg[j] *= T(2);
    }
    Tensor act = activations[t];
    at::sigmoid_out(act, z);
    T* a = ptr<T>(act);
    const T* cp = ptr<T>(t > 0 ? cells[t - 1] : c_zero);
    T* cn = ptr<T>(cells[t]);
    T* c2 = ptr<T>(c_work);
    for (int64_t b = 0; b < batch; ++b) {
      T* ab = a + b * 4 * hidden;
      for (int64_t j = 0; j < hidden; ++j) {
        const T g = T(2) * ab[2 * hidden + j] - T(1);
        ab[2 * hidden + j] = g;
        const T c = ab[hidden + j] * cp[b * hidden + j] + ab[j] * g;
        cn[b * hidden + j] = c;
        c2[b * hidden + j] = T(2) * c;
      }
    }
    at::sigmoid_(c_work);
    T* tc = ptr<T>(tanh_cells[t]);
    T* hn = ptr<T>(outputs[t]);
    for (int64_t b = 0; b < batch; ++b) {
      const T* ob = a + b * 4 * hidden + 3 * hidden;
      for (int64_t j = 0; j < hidden; ++j) {
        const T tanh_c = T(2) * c2[b * hidden + j] - T(1);
        tc[b * hidden + j] = tanh_c;
        hn[b * hidden + j] = ob[j] * tanh_c;
      }
    }
    h = outputs[t];
  }
  Tensors saved;
  if (save) {
    h_versions[0][0].zero_();
    if (steps > 1) h_versions[0].narrow(0, 1, steps - 1).copy_(outputs.narrow(0, 0, steps - 1));  // h_{t−1}
    saved = h_versions;
    saved.insert(saved.end(), x_versions.begin(), x_versions.end());
    saved.insert(saved.end(), round_gates.begin(), round_gates.end());
    saved.push_back(activations);
    saved.push_back(cells);
    saved.push_back(tanh_cells);
  }
  return {outputs, saved};
}

std::tuple<Tensor, Tensors> recurrence_forward(const Tensor& x, const Tensor& gate1, const Tensor& weight_ih,
                                               const Tensor& weight_hh, const Tensor& bias,
                                               const Tensors& round_weights, const Tensors& round_biases,
                                               const Tensors& packed, int64_t packing, bool hoisted, bool save) {
  TORCH_CHECK(x.is_contiguous() && (gate1.numel() == 0 || gate1.is_contiguous()), "mogrifier: contiguous inputs");
  std::tuple<Tensor, Tensors> result;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mogrifier_forward", [&] {
    result = forward_impl<scalar_t>(x, gate1, weight_ih, weight_hh, bias, round_weights, round_biases, packed,
                                    packing, hoisted, save);
  });
  return result;
}

// ------------------------------------------------------------------------------------------------------------
// Backward: mogrifier._recurrence_backward, step for step.
// ------------------------------------------------------------------------------------------------------------
template <typename T>
Tensors backward_impl(const Tensor& grad_outputs, const Tensor& gate1, const Tensor& weight_ih_t,
                      const Tensor& weight_hh_t, const Tensors& round_weights_t, const Tensors& packed,
                      int64_t packing, const Tensors& saved, bool hoisted) {
  const int64_t steps = grad_outputs.size(0), batch = grad_outputs.size(1), hidden = grad_outputs.size(2);
  const int64_t rounds = gate1.numel() > 0 ? 1 + static_cast<int64_t>(round_weights_t.size()) : 0;
  const int64_t num_h = (rounds + 1) / 2 + 1, num_x = rounds / 2 + 1;
  const Tensors h_versions(saved.begin(), saved.begin() + num_h);
  const Tensors x_versions(saved.begin() + num_h, saved.begin() + num_h + num_x);
  const Tensors round_gates(saved.begin() + num_h + num_x, saved.begin() + num_h + num_x + round_weights_t.size());
  const Tensor& activations = saved[saved.size() - 3];
  const Tensor& cells = saved[saved.size() - 2];
  const Tensor& tanh_cells = saved[saved.size() - 1];
  const Tensor& x = x_versions[0];
  const int64_t width = x.size(2), bh = batch * hidden;
  auto empty = grad_outputs.new_empty({0});
  const Tensor& packed_ih = packed.empty() ? empty : packed[0];
  const Tensor& packed_hh = packed.empty() ? empty : packed[1];
  auto packed_round = [&](int64_t k) -> const Tensor& { return packed.empty() ? empty : packed[k]; };

  auto grad_z = big_empty(grad_outputs, {steps, batch, 4 * hidden});
  Tensor grad_x = hoisted ? grad_z : big_empty(x, x.sizes());
  auto grad_gate1 = big_empty(grad_outputs, gate1.sizes());
  Tensors grad_pre;
  for (const auto& w : round_weights_t) grad_pre.push_back(big_empty(grad_outputs, {steps, batch, w.size(1)}));
  auto dh = grad_outputs.new_zeros({batch, hidden});
  auto dc = grad_outputs.new_zeros({batch, hidden});
  T* dhp = ptr<T>(dh);
  T* dcp = ptr<T>(dc);
  const T* go = ptr<T>(grad_outputs);
  const T* act = ptr<T>(activations);
  const T* cel = ptr<T>(cells);
  const T* tcl = ptr<T>(tanh_cells);
  const T* g1 = rounds >= 1 ? ptr<T>(gate1) : nullptr;
  const T* h_prev = ptr<T>(h_versions[0]);
  auto x_work = grad_outputs.new_empty({batch, width});
  auto h_work = grad_outputs.new_empty({batch, hidden});

  for (int64_t t = steps - 1; t >= 0; --t) {
    T* dz = ptr<T>(grad_z) + t * batch * 4 * hidden;
    for (int64_t b = 0; b < batch; ++b) {  // through h_t = o ⊙ tanh(c_t) and c_t = f ⊙ c_{t−1} + i ⊙ g
      const T* a = act + (t * batch + b) * 4 * hidden;
      const T* tc = tcl + (t * batch + b) * hidden;
      const T* c_prev = t > 0 ? cel + ((t - 1) * batch + b) * hidden : nullptr;
      const T* gob = go + (t * batch + b) * hidden;
      T* dzb = dz + b * 4 * hidden;
      T* dhb = dhp + b * hidden;
      T* dcb = dcp + b * hidden;
      for (int64_t j = 0; j < hidden; ++j) {
        const T i = a[j], f = a[hidden + j], g = a[2 * hidden + j], o = a[3 * hidden + j];
        const T dhj = dhb[j] + gob[j];
        const T dcj = dcb[j] + dhj * (o * (T(1) - tc[j] * tc[j]));
        dzb[j] = dcj * (g * i * (T(1) - i));
        dzb[hidden + j] = c_prev ? dcj * (c_prev[j] * f * (T(1) - f)) : T(0);
        dzb[2 * hidden + j] = dcj * (i * (T(1) - g * g));
        dzb[3 * hidden + j] = dhj * (tc[j] * o * (T(1) - o));
        dcb[j] = dcj * f;
      }
    }
    Tensor dz_flat = grad_z[t];  // (B, 4H)
    Tensor dh_version = linear(dz_flat, weight_hh_t, packed_hh, std::nullopt, packing);  // (B, H)
    Tensor dx_version = hoisted ? dz_flat : linear(dz_flat, weight_ih_t, packed_ih, std::nullopt, packing);
    for (int64_t k = rounds; k >= 2; --k) {  // round k: new = old + 2·old⊙gate, gate = σ(pre)
      const bool even = k % 2 == 0;
      const Tensor& gate = round_gates[k - 2][t];
      const Tensor& old = even ? x_versions[k / 2 - 1][t] : h_versions[(k - 1) / 2][t];
      const Tensor& upstream = even ? dx_version : dh_version;
      Tensor pre = grad_pre[k - 2][t];
      Tensor down = k == 2 ? grad_x[t] : (even ? x_work : h_work);  // never the upstream buffer
      const int64_t n = upstream.numel();
      const T* gp = ptr<T>(gate);
      const T* op = ptr<T>(old);
      const T* up = ptr<T>(upstream);
      T* pp = ptr<T>(pre);
      T* dp = ptr<T>(down);
      for (int64_t j = 0; j < n; ++j) {
        pp[j] = up[j] * op[j] * (gp[j] - gp[j] * gp[j]) * T(2);  // ∂/∂pre = upstream ⊙ 2·old ⊙ σ'(pre)
        dp[j] = up[j] + T(2) * up[j] * gp[j];                      // ∂/∂old = upstream ⊙ (1 + 2·gate)
      }
      if (even) {
        dx_version = down;
        dh_version = linear_add(dh_version, pre, round_weights_t[k - 2], packed_round(k), packing);
      } else {
        dh_version = down;
        dx_version = linear_add(dx_version, pre, round_weights_t[k - 2], packed_round(k), packing);
      }
    }
    const Tensor dh_last = dh_version.contiguous();
    const T* dv = ptr<T>(dh_last);
    if (rounds >= 1) {  // round 1: h' = h ⊙ (1 + 2·gate1)
      T* gg = ptr<T>(grad_gate1) + t * bh;
      const T* gp = g1 + t * bh;
      const T* hp = h_prev + t * bh;
      for (int64_t j = 0; j < bh; ++j) {
        gg[j] = dv[j] * (T(2) * hp[j]);
        dhp[j] = dv[j] + T(2) * dv[j] * gp[j];
      }
    } else {
      for (int64_t j = 0; j < bh; ++j) dhp[j] = dv[j];
    }
  }
  Tensor flat_grad_z = grad_z.view({steps * batch, 4 * hidden});
  Tensor grad_z_t = first_operand<T>(flat_grad_z, packing);  // (4H, T·B), shared by both products
  Tensor grad_weight_hh = matmul_tn(grad_z_t, h_versions[num_h - 1].reshape({steps * batch, hidden}), packing);
  Tensor grad_weight_ih = empty, grad_bias = empty;
  if (!hoisted) {
    Tensor final_x = x_versions[num_x - 1].reshape({steps * batch, width});
    grad_weight_ih = matmul_tn(grad_z_t, final_x, packing);  // (4H, input)
    grad_bias = flat_grad_z.sum(0);
  }
  Tensors result{grad_x, grad_gate1, grad_weight_ih, grad_weight_hh, grad_bias};
  Tensors grad_round_biases;
  for (int64_t k = 2; k <= rounds; ++k) {
    Tensor pre = grad_pre[k - 2].reshape({steps * batch, grad_pre[k - 2].size(2)});
    Tensor source = k % 2 == 0 ? h_versions[k / 2].reshape({steps * batch, hidden})
                               : x_versions[(k - 1) / 2].reshape({steps * batch, width});
    result.push_back(matmul_tn(first_operand<T>(pre, packing), source, packing));
    grad_round_biases.push_back(pre.sum(0));
  }
  result.insert(result.end(), grad_round_biases.begin(), grad_round_biases.end());
  return result;
}

Tensors recurrence_backward(const Tensor& grad_outputs, const Tensor& gate1, const Tensor& weight_ih_t,
                            const Tensor& weight_hh_t, const Tensors& round_weights_t, const Tensors& packed,
                            int64_t packing, const Tensors& saved, bool hoisted) {
  TORCH_CHECK(grad_outputs.is_contiguous(), "mogrifier: contiguous gradients");
  Tensors result;
  AT_DISPATCH_FLOATING_TYPES(grad_outputs.scalar_type(), "mogrifier_backward", [&] {
    result = backward_impl<scalar_t>(grad_outputs, gate1, weight_ih_t, weight_hh_t, round_weights_t, packed,
                                     packing, saved, hoisted);
  });
  return result;
}

}  // namespace

TORCH_LIBRARY(NAMESPACE, m) {
  m.def("recurrence_forward(Tensor x, Tensor gate1, Tensor weight_ih, Tensor weight_hh, Tensor bias, "
        "Tensor[] round_weights, Tensor[] round_biases, Tensor[] packed, int packing, bool hoisted, bool save) "
        "-> (Tensor, Tensor[])");
  m.def("recurrence_backward(Tensor grad_outputs, Tensor gate1, Tensor weight_ih_t, Tensor weight_hh_t, "
        "Tensor[] round_weights_t, Tensor[] packed, int packing, Tensor[] saved, bool hoisted) -> Tensor[]");
  // CPU tensors; oneDNN's packed weights are MkldnnCPU tensors
  for (auto key : {c10::DispatchKey::CPU, c10::DispatchKey::MkldnnCPU}) {
    m.impl("recurrence_forward", key, TORCH_FN(recurrence_forward));
    m.impl("recurrence_backward", key, TORCH_FN(recurrence_backward));
  }
}
"""

_STATE: dict[str, object] = {}

BUILD_ENV = "HF_EMOTION_MOGRIFIER_KERNEL"
"""Set to ``"build"`` to let the first recurrence build the kernel (it is never built otherwise unless asked)."""

_FLAG_SETS = (["-O3", "-march=native"], ["-O3"])  # a second try for compilers without -march=native


def _cpu_signature() -> str:
    """The CPU's model and instruction-set flags (Linux), or the platform's processor name elsewhere."""
    model, flags = cpu_description()
    return model + " ".join(sorted(flags))


def _extension_name(flags: list[str]) -> str:
    """The build's name: source, CPU, flags and torch version (a build is never loaded into another torch, or
    onto another instruction set from a cache shared between machines)."""
    text = "".join([_SOURCE, _cpu_signature(), torch.__version__, *flags])
    return f"{_NAMESPACE}_{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def _build_directory(name: str) -> str:
    return os.path.join(cache_root(), "kernels", name)


def _load_built() -> Optional[object]:
    """The kernel from an earlier build on this machine (no compiler or ninja needed), or `None`."""
    for flags in _FLAG_SETS:
        name = _extension_name(flags)
        library = os.path.join(_build_directory(name), f"{name}.so")
        if os.path.isfile(library):
            try:
                torch.ops.load_library(library)
                return getattr(torch.ops, name)
            except (OSError, RuntimeError) as error:
                logger.debug("Could not load the built mogrifier kernel %s (%s).", library, error)
    return None


def _build(flags: list[str]) -> object:
    """Compile the kernel with `flags` (ninja found on PATH or in the `ninja` package, PATH left unchanged)."""
    extension_logger = logging.getLogger("torch.utils.cpp_extension")
    level = extension_logger.level
    extension_logger.setLevel(
        logging.ERROR
    )  # its import warns that no CUDA runtime is found: irrelevant here
    try:
        from torch.utils.cpp_extension import load_inline
    finally:
        extension_logger.setLevel(level)
    name = _extension_name(flags)
    directory = _build_directory(name)
    os.makedirs(directory, exist_ok=True)
    source = _SOURCE.replace("TORCH_LIBRARY(NAMESPACE,", f"TORCH_LIBRARY({name},")
    path = os.environ.get("PATH", "")
    if shutil.which("ninja") is None:
        try:
            import ninja  # the PyPI package ships the binary
        except ImportError as error:
            raise RuntimeError("error: ninja is not installed (pip install ninja)") from error
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + path  # for the build only
    try:
        load_inline(
            name,
            cpp_sources=[source],
            is_python_module=False,
            extra_cflags=flags,
            build_directory=directory,
            verbose=False,
        )
    finally:
        os.environ["PATH"] = path
    return getattr(torch.ops, name)


def build_kernel() -> Optional[object]:
    """Compile the loops for this machine (about half a minute; needs a C++ compiler and ninja) and load them.

    Returns their `torch.ops` namespace, or `None` with a warning naming the compiler's first error.
    `-march=native` vectorises the element-wise passes for this CPU; a compiler that does not take it gets a
    second try without.
    """
    logger.info("Building the mogrifier CPU kernel (once per machine, about half a minute)...")
    error: Optional[Exception] = None
    for flags in _FLAG_SETS:
        try:
            _STATE["ops"] = _build(flags)
            return _STATE["ops"]
        except Exception as failure:  # any build failure leaves the TorchScript loops in charge
            error = error or failure
            logger.debug("Mogrifier kernel build with %s failed", flags, exc_info=True)
    lines = str(error).strip().splitlines() or [type(error).__name__]
    message = next((line.strip() for line in lines if "error:" in line), lines[-1])
    logger.warning(
        "The mogrifier C++ kernel could not be built (%s); using the TorchScript loops (same results, slower).",
        message,
    )
    _STATE["ops"] = None
    return None


def load_kernel(build: bool = False) -> Optional[object]:
    """The compiled loops as a `torch.ops` namespace, or `None`.

    Loads an earlier build of this machine if there is one. Otherwise it builds only when asked: `build=True`,
    or `HF_EMOTION_MOGRIFIER_KERNEL=build` in the environment; loading or running a model never needs a compiler.
    """
    if _STATE.get("ops") is not None:
        return _STATE["ops"]
    if "loaded" not in _STATE:
        _STATE["loaded"] = True
        _STATE["ops"] = _load_built()
        if _STATE["ops"] is not None:
            return _STATE["ops"]
    if build or os.environ.get(BUILD_ENV) == "build":
        if "built" not in _STATE:  # one try per process
            _STATE["built"] = True
            return build_kernel()
    return _STATE.get("ops")


__all__ = ["build_kernel", "load_kernel"]

