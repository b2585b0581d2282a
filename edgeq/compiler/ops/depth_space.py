"""DEPTH_TO_SPACE and SPACE_TO_DEPTH (int8, NHWC, block b) -> edgeq_strided_copy over the 6-D index
(n, h, by, w, bx, c): ``out[n, h*b+by, w*b+bx, c] = in[n, h, w, (by*b+bx)*C + c]`` and its inverse
(reference_ops::DepthToSpace / SpaceToDepth)."""

from __future__ import annotations

from edgeq.compiler.ops.data_movement import Copy, StridedCopyLayer


class DepthToSpace(StridedCopyLayer):
    OPS = ("DEPTH_TO_SPACE",)
    INT16 = False  # TFLM: int8 and float only

    def _block(self) -> int:
        b = int(self.op.options.get("block_size", 0))
        if b < 1:
            raise self.unsupported(f"block size {b}")
        return b

    def plan(self) -> list[Copy]:
        b = self._block()
        x, out = self.input(0), self.output()
        self.require_rank(x, (4,), "input")
        n, h, w, cin = x.shape
        c = cin // (b * b)
        if cin % (b * b) or list(out.shape) != [n, h * b, w * b, c]:
            raise self.unsupported(f"input {list(x.shape)} -> output {list(out.shape)} is not depth-to-space by {b}")
        ho, wo = h * b, w * b
        dims = (n, h, b, w, b, c)
        space = (ho * wo * c, b * wo * c, wo * c, b * c, c, 1)  # NHWC strides of the spatial tensor
        depth = (h * w * cin, w * cin, b * c, cin, c, 1)  # NHWC strides of the deep tensor
        return [Copy(self.op.inputs[0], self.op.outputs[0], dims, depth, space)]


class SpaceToDepth(DepthToSpace):
    OPS = ("SPACE_TO_DEPTH",)

    def plan(self) -> list[Copy]:
        b = self._block()
        x, out = self.input(0), self.output()
        self.require_rank(x, (4,), "input")
        n, hi, wi, c = x.shape
        if hi % b or wi % b or list(out.shape) != [n, hi // b, wi // b, c * b * b]:
            raise self.unsupported(f"input {list(x.shape)} -> output {list(out.shape)} is not space-to-depth by {b}")
        h, w, cout = hi // b, wi // b, c * b * b
        dims = (n, h, b, w, b, c)
        space = (hi * wi * c, b * wi * c, wi * c, b * c, c, 1)
        depth = (h * w * cout, w * cout, b * c, cout, c, 1)
        return [Copy(self.op.inputs[0], self.op.outputs[0], dims, space, depth)]
