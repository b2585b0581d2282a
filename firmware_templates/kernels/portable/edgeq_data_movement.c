/* CONCATENATION, PAD, the strided copy (TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK, UNPACK, GATHER,
 * DEPTH_TO_SPACE, SPACE_TO_DEPTH) and RESIZE_NEAREST_NEIGHBOR / MIRROR_PAD: pure data movement, no arithmetic (TFLM's
 * reference_ops::Concatenation / Pad / Transpose / StridedSlice ... are templates over the element type, or copy by
 * element size). One kernel per op serves every element type: elem_size is the size of an element in bytes (1 = int8,
 * 2 = int16, 4 = int32 or float); sizes, strides and offsets count elements. */
#include "edgeq_nn.h"

/* rows runs of n contiguous elements, src_row / dst_row bytes apart: int16 elements copied as such, any other size
 * as n * elem_size bytes; the size tested once, not per row or element. */
EDGEQ_ALWAYS_INLINE void edgeq_copy_runs(uint8_t *dst, int32_t dst_row, const uint8_t *src, int32_t src_row,
                                         int32_t rows, int32_t n, int32_t elem_size)
{
    int32_t r, k;
    if (elem_size == 2) {
        for (r = 0; r < rows; ++r, src += src_row, dst += dst_row) {
            for (k = 0; k < n; ++k) ((int16_t *)dst)[k] = ((const int16_t *)src)[k];
        }
    } else {
        const int32_t bytes = n * elem_size;
        for (r = 0; r < rows; ++r, src += src_row, dst += dst_row) {
            for (k = 0; k < bytes; ++k) ((int8_t *)dst)[k] = ((const int8_t *)src)[k];
        }
    }
}

/* A block of rows x n elements: element k of row r is read at src + r * src_row + k * src_step and written at
 * dst + r * dst_row + k * dst_step (row strides in bytes, element steps in elements; any sign). */
typedef struct {
    int32_t rows, n;
    int32_t src_row, src_step;
    int32_t dst_row, dst_step;
} edgeq_copy_block;

/* The block copied row by row: contiguous rows (both steps 1) as runs, others with one loop per element size.
 * Everything the loops read is in locals (a store may alias any memory). One copy of it serves every kernel here. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void edgeq_copy(uint8_t *dst, const uint8_t *src, const edgeq_copy_block *block, int32_t elem_size)
{
    const int32_t rows = block->rows, n = block->n, src_row = block->src_row, dst_row = block->dst_row;
    const int32_t src_step = block->src_step, dst_step = block->dst_step;
    int32_t r, k, b;
    if (src_step == 1 && dst_step == 1) {
        edgeq_copy_runs(dst, dst_row, src, src_row, rows, n, elem_size);
        return;
    }
    for (r = 0; r < rows; ++r, src += src_row, dst += dst_row) {
        if (elem_size == 1) {
            for (k = 0; k < n; ++k) ((int8_t *)dst)[k * dst_step] = ((const int8_t *)src)[k * src_step];
        } else if (elem_size == 2) {
            for (k = 0; k < n; ++k) ((int16_t *)dst)[k * dst_step] = ((const int16_t *)src)[k * src_step];
        } else {
            for (k = 0; k < n; ++k) {
                for (b = 0; b < elem_size; ++b) dst[k * dst_step * elem_size + b] = src[k * src_step * elem_size + b];
            }
        }
    }
}

void edgeq_concatenation(const void *const *inputs, const int32_t *copy_sizes, int32_t num_inputs,
                         int32_t outer_size, void *output, int32_t elem_size)
{
    /* input i fills, in each of the outer_size output blocks, copy_sizes[i] elements after those of inputs < i */
    int32_t i, block = 0, offset = 0;
    for (i = 0; i < num_inputs; ++i) block += copy_sizes[i];
    for (i = 0; i < num_inputs; ++i) {
        const int32_t n = copy_sizes[i];
        const edgeq_copy_block copy = {outer_size, n, n * elem_size, 1, block * elem_size, 1};
        edgeq_copy((uint8_t *)output + offset * elem_size, (const uint8_t *)inputs[i], &copy, elem_size);
        offset += n;
    }
}

edgeq_status edgeq_pad(const void *input, void *output, int32_t pad_value, const edgeq_dims *input_size,
                       const edgeq_dims *pre_pad, const edgeq_dims *post_pad, int32_t elem_size)
{
    const int32_t out_h = pre_pad->h + input_size->h + post_pad->h;
    const int32_t out_w = pre_pad->w + input_size->w + post_pad->w;
    const int32_t out_c = pre_pad->c + input_size->c + post_pad->c;
    const int32_t total = (pre_pad->n + input_size->n + post_pad->n) * out_h * out_w * out_c;
    /* one input row of input_size->w pixels at a time, each pixel's input_size->c elements out_c apart */
    const edgeq_copy_block pixels = {input_size->w, input_size->c, input_size->c * elem_size, 1, out_c * elem_size, 1};
    const uint8_t *in = (const uint8_t *)input;
    int32_t k, n, h;
    /* every element the pad value first, then the input over its window */
    if (elem_size == 1) {
        int8_t *out = (int8_t *)output;
        for (k = 0; k < total; ++k) out[k] = (int8_t)pad_value;
    } else if (elem_size == 2) {
        int16_t *out = (int16_t *)output;
        for (k = 0; k < total; ++k) out[k] = (int16_t)pad_value;
    } else if (elem_size == 4) {
        int32_t *out = (int32_t *)output;
        for (k = 0; k < total; ++k) out[k] = pad_value;
    } else {
        return EDGEQ_ARG_ERROR;
    }
    for (n = 0; n < input_size->n; ++n) {
        for (h = 0; h < input_size->h; ++h, in += input_size->w * input_size->c * elem_size) {
            const int32_t at = (((pre_pad->n + n) * out_h + pre_pad->h + h) * out_w + pre_pad->w) * out_c + pre_pad->c;
            edgeq_copy((uint8_t *)output + at * elem_size, in, &pixels, elem_size);
        }
    }
    return EDGEQ_OK;
}

void edgeq_strided_copy(const void *input, const int32_t *in_strides, void *output, const int32_t *out_strides,
                        const int32_t *dims, int32_t elem_size)
{
    /* the two inner dimensions are one block (edgeq_copy); the four outer ones walk the blocks as an odometer,
     * with their strides in bytes */
    const edgeq_copy_block block = {dims[4], dims[5], in_strides[4] * elem_size, in_strides[5],
                                    out_strides[4] * elem_size, out_strides[5]};
    int32_t in_step[4], out_step[4], index[4], k;
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    for (k = 0; k < 4; ++k) {
        if (dims[k] <= 0) {
            return;
        }
        in_step[k] = in_strides[k] * elem_size;
        out_step[k] = out_strides[k] * elem_size;
        index[k] = 0;
    }
    for (;;) {
        edgeq_copy(out, in, &block, elem_size);
        for (k = 3; k >= 0; --k) { /* the next block: the last outer index that can move, moves */
            in += in_step[k];
            out += out_step[k];
            if (++index[k] < dims[k]) {
                break;
            }
            in -= index[k] * in_step[k];
            out -= index[k] * out_step[k];
            index[k] = 0;
        }
        if (k < 0) {
            return;
        }
    }
}

/* One output row of RESIZE_NEAREST_NEIGHBOR: pixel x (depth elements) copied from pixel x_map[x] of the input row;
 * the element size tested once per row, as in edgeq_copy_runs. */
EDGEQ_ALWAYS_INLINE void edgeq_gather_pixels(uint8_t *dst, const uint8_t *src_row, const int32_t *x_map, int32_t n,
                                             int32_t depth, int32_t elem_size)
{
    int32_t x, k;
    if (elem_size == 2) {
        int16_t *d = (int16_t *)dst;
        for (x = 0; x < n; ++x) {
            const int16_t *s = (const int16_t *)src_row + EDGEQ_W32(&x_map[x]) * depth;
            for (k = 0; k < depth; ++k) *d++ = s[k];
        }
    } else {
        const int32_t bytes = depth * elem_size;
        int8_t *d = (int8_t *)dst;
        for (x = 0; x < n; ++x) {
            const int8_t *s = (const int8_t *)src_row + EDGEQ_W32(&x_map[x]) * bytes;
            for (k = 0; k < bytes; ++k) *d++ = s[k];
        }
    }
}

void edgeq_resize_nearest(const void *input, const edgeq_dims *input_dims, int32_t output_h, int32_t output_w,
                          const int32_t *y_map, const int32_t *x_map, void *output, int32_t elem_size)
{
    const int32_t pixel = input_dims->c * elem_size;
    const int32_t row = input_dims->w * pixel;
    const int32_t out_row = output_w * pixel;
    uint8_t *out = (uint8_t *)output;
    int32_t b, y;
    for (b = 0; b < input_dims->n; ++b) {
        const uint8_t *in_b = (const uint8_t *)input + b * input_dims->h * row;
        for (y = 0; y < output_h; ++y, out += out_row) {
            const int32_t src_y = EDGEQ_W32(&y_map[y]);
            if (y > 0 && src_y == EDGEQ_W32(&y_map[y - 1])) { /* the same source row: the output row again */
                edgeq_copy_runs(out, 0, out - out_row, 0, 1, output_w * input_dims->c, elem_size);
                continue;
            }
            edgeq_gather_pixels(out, in_b + src_y * row, x_map, output_w, input_dims->c, elem_size);
        }
    }
}
