/* What traceway's C modules share: status codes and growable byte buffers.
 *
 * Each module fills Bufs without the GIL, then hands them to Python as bytes that
 * become Arrow buffers; a function returns ST_OK, or ST_FALLBACK when the input is one
 * the Python code must take instead, or ST_NOMEM, and TRY passes anything but ST_OK up.
 * Include it after <Python.h>.
 */
#ifndef TRACEWAY_NATIVE_BUF_H
#define TRACEWAY_NATIVE_BUF_H

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "Arrow buffers are little-endian; these modules write integers as the host stores them"
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { ST_OK = 0, ST_FALLBACK = 1, ST_NOMEM = 2 };

#define TRY(expr)                \
    do {                         \
        int status_ = (expr);    \
        if (status_ != ST_OK)    \
            return status_;      \
    } while (0)

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} Buf;

/* Room for `extra` more bytes. */
static int buf_grow(Buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return ST_NOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return ST_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return ST_NOMEM;
        cap *= 2;
    }
    uint8_t *data = realloc(b->data, cap);
    if (data == NULL)
        return ST_NOMEM;
    b->data = data;
    b->cap = cap;
    return ST_OK;
}

static inline int buf_put(Buf *b, const void *src, size_t n)
{
    if (b->cap - b->len < n)
        TRY(buf_grow(b, n));
    if (n)
        memcpy(b->data + b->len, src, n);
    b->len += n;
    return ST_OK;
}

static inline int buf_byte(Buf *b, uint8_t c)
{
    if (b->len == b->cap)
        TRY(buf_grow(b, 1));
    b->data[b->len++] = c;
    return ST_OK;
}

static inline int buf_u32(Buf *b, uint32_t v) { return buf_put(b, &v, sizeof v); }
static inline int buf_i32(Buf *b, int32_t v) { return buf_put(b, &v, sizeof v); }
static inline int buf_u64(Buf *b, uint64_t v) { return buf_put(b, &v, sizeof v); }
static inline int buf_i64(Buf *b, int64_t v) { return buf_put(b, &v, sizeof v); }

/* An Arrow int32 offset or index; ST_FALLBACK past what 32 bits hold. */
static inline int buf_index(Buf *b, size_t value)
{
    if (value > INT32_MAX)
        return ST_FALLBACK;
    return buf_i32(b, (int32_t)value);
}

/* An Arrow int32 offset: the end of the value just written into `data`. */
static inline int buf_offset(Buf *offsets, const Buf *data) { return buf_index(offsets, data->len); }

/* The bytes written, as a Python bytes object (a copy; the Buf is freed after). */
static PyObject *bytes_of(const Buf *b)
{
    return PyBytes_FromStringAndSize((const char *)b->data, (Py_ssize_t)b->len);
}

#endif
