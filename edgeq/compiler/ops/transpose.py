"""TRANSPOSE (int8) -> edgeq_strided_copy_s8: the output's dimension k walks the input's dimension perm[k]
(reference_ops::Transpose, up to 6-D). PyTorch NCHW exports start with one."""

from __future__ import annotations

from edgeq.compiler.ops.data_movement import Copy, StridedCopyLayer, contiguous_strides


class Transpose(StridedCopyLayer):
    OPS = ("TRANSPOSE",)

    def plan(self) -> list[Copy]:
        x = self.input(0)
        out = self.output()
        perm = self.const_param(1, "perm")
        rank = len(x.shape)
        perm = [p + rank if p < 0 else p for p in perm]
        if sorted(perm) != list(range(rank)):
            raise self.unsupported(f"perm {perm} is not a permutation of {rank} dimensions")
        if [x.shape[p] for p in perm] != list(out.shape):
            raise self.unsupported(f"output shape {list(out.shape)} is not the input {list(x.shape)} permuted")
        st = contiguous_strides(x.shape)
        return [Copy(self.op.inputs[0], self.op.outputs[0], tuple(out.shape), tuple(st[p] for p in perm),
                     tuple(contiguous_strides(out.shape)))]
