"""What RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR share: an NHWC int8 input resized to the constant ``size``
(height, width), the TFLite options ``align_corners`` / ``half_pixel_centers``, and two constant maps (rows, columns)
computed here so the kernel only walks them. Each op gives its map function and its kernel."""

from __future__ import annotations

from edgeq.compiler.cparams import ConstRef, Dims, KernelCall, TensorRef, out_ref
from edgeq.compiler.ops.base import Layer, dims4


class ResizeLayer(Layer):
    SOURCES = ("edgeq_data_movement_s8.c",)
    #: the portable kernel (edgeq_<KERNEL>) and what one entry of its maps holds (for the C comment)
    KERNEL = ""
    MAP_ROWS = MAP_COLUMNS = ""

    def check_io(self):
        """The (input, output) tensors, refused unless the op supports them; the subclass's own rules."""
        raise NotImplementedError

    def index_map(self, in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
        raise NotImplementedError

    def prepare(self) -> KernelCall:
        x, out = self.check_io()
        self.require_rank(x, (4,), "input")
        size = self.require_const(self.input(1), "size")
        oh, ow = (int(v) for v in size.array().reshape(-1)[:2])
        n, h, w, c = x.shape
        if list(out.shape) != [n, oh, ow, c]:
            raise self.unsupported(f"output {list(out.shape)} is not the input {list(x.shape)} resized to {oh}x{ow}")
        ac = bool(self.op.options.get("align_corners", False))
        hp = bool(self.op.options.get("half_pixel_centers", False))
        p = self.params
        p.update(in_dims=dims4(x.shape), oh=oh, ow=ow)
        p["y_map"] = self.ctx.add_const("y_map", "int32_t", self.index_map(h, oh, ac, hp),
                                        comment=f"layer {self.index} {self.MAP_ROWS}")
        p["x_map"] = self.ctx.add_const("x_map", "int32_t", self.index_map(w, ow, ac, hp),
                                        comment=f"layer {self.index} {self.MAP_COLUMNS}")
        return self._call()

    def reads(self) -> list[int]:
        return [self.op.inputs[0]]

    def _call(self) -> KernelCall:
        p = self.params
        ct = self.params.get("ctype", "int8_t")
        return KernelCall.make(self.KERNEL, status=False, input=TensorRef(self.op.inputs[0], ct),
                               input_dims=Dims(*p["in_dims"]), output_h=p["oh"], output_w=p["ow"],
                               y_map=ConstRef(p["y_map"], "int32_t"), x_map=ConstRef(p["x_map"], "int32_t"),
                               output=out_ref(self.op.outputs[0], ct))
