/* WireBatch: a ReadingBatch's wire bytes, walked and validated once (walk), and the
 * accepted readings assembled again (assemble); see _wire.c. */
#include "_wire.h"

static void WireBatch_dealloc(WireBatch *self) {
    Py_XDECREF(self->raw);
    Py_XDECREF(self->source_id);
    Py_XDECREF(self->session_id);
    PyMem_Free(self->readings);
    buffer_free(&self->templates);
    buffer_free(&self->output);
    Py_TYPE(self)->tp_free((PyObject *)self);
}


/* A map<string,string> entry: key (1) and value (2), each at most once. */
static int walk_tag_entry(const uint8_t *p, size_t n) {
    Cursor c = {p, p + n};
    int seen = 0;
    while (c.p < c.end) {
        uint32_t number, wire;
        const uint8_t *s;
        size_t len;
        if (!walk_tag(&c, &number, &wire) || wire != LEN || (number != 1 && number != 2)) return 0;
        if (seen & (1 << number)) return 0;
        seen |= 1 << number;
        if (!read_len(&c, &s, &len) || !valid_utf8(s, len)) return 0;
    }
    return 1;
}

/* A Location: lat (1) and lon (2), doubles, each at most once. */
static int walk_location(const uint8_t *p, size_t n) {
    Cursor c = {p, p + n};
    int seen = 0;
    while (c.p < c.end) {
        uint32_t number, wire;
        if (!walk_tag(&c, &number, &wire) || wire != I64 || (number != 1 && number != 2)) return 0;
        if (seen & (1 << number)) return 0;
        seen |= 1 << number;
        if (c.end - c.p < 8) return 0;
        c.p += 8;
    }
    return 1;
}

/* Walks one Reading, fills ``span`` and appends its template to ``templates``. */
static int walk_reading(const uint8_t *p, size_t n, ReadingSpan *span, Buffer *templates) {
    Cursor c = {p, p + n};
    uint32_t seen = 0;
    span->time = 0;
    span->value = 0.0;
    span->device_at = span->device_length = 0;
    span->tmpl_offset = (uint32_t)templates->len;
    if (!buffer_reserve(templates, n + 2)) return -1;
    while (c.p < c.end) {
        const uint8_t *field_start = c.p;
        uint32_t number, wire;
        if (!walk_tag(&c, &number, &wire) || number > 9 || READING_WIRE[number] != (int)wire)
            return 0;
        if (number != 5) {
            if (seen & (1u << number)) return 0;
            seen |= 1u << number;
        }
        if (number == 2) {
            uint64_t time;
            if (!read_varint(&c, &time)) return 0;
            span->time = (int64_t)time;
            continue;
        }
        if (number == 4) {
            if (c.end - c.p < 8) return 0;
            memcpy(&span->value, c.p, 8);
            c.p += 8;
            continue;
        }
        const uint8_t *s;
        size_t len;
        if (!read_len(&c, &s, &len)) return 0;
        if (number == 1) {
            span->device_at = (uint32_t)(s - p);
            span->device_length = (uint32_t)len;
        }
        if (number == 5) {
            if (!walk_tag_entry(s, len)) return 0;
        } else if (number == 7) {
            if (!walk_location(s, len)) return 0;
        } else if (!valid_utf8(s, len)) {
            return 0;
        }
        memcpy(templates->data + templates->len, field_start, (size_t)(c.p - field_start));
        templates->len += (size_t)(c.p - field_start);
    }
    if (span->time != 0) {
        templates->data[templates->len++] = 0x10; /* "timed": field 2 = 1 */
        templates->data[templates->len++] = 0x01;
    }
    span->tmpl_length = (uint32_t)(templates->len - span->tmpl_offset);
    return 1;
}


PyObject *walk(PyObject *module, PyObject *raw) {
    if (!PyBytes_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "walk() takes bytes");
        return NULL;
    }
    const uint8_t *data = (const uint8_t *)PyBytes_AS_STRING(raw);
    size_t size = (size_t)PyBytes_GET_SIZE(raw);
    if (size > UINT32_MAX) Py_RETURN_NONE;
    WireBatch *batch = PyObject_New(WireBatch, &WireBatchType);
    if (batch == NULL) return NULL;
    batch->raw = Py_NewRef(raw);
    batch->source_id = batch->session_id = NULL;
    batch->seq = 0;
    batch->count = 0;
    batch->readings = NULL;
    batch->templates = (Buffer){0};
    batch->output = (Buffer){0};
    batch->screened = batch->rewritten = 0;

    /* The span array grows as readings come; the templates take at most the batch's size
     * (plus a marker per reading), reserved once here for typical batches. */
    size_t capacity = 128;
    batch->readings = PyMem_Malloc(capacity * sizeof(ReadingSpan));
    if (batch->readings == NULL || !buffer_reserve(&batch->templates, size + 64)) {
        Py_DECREF(batch);
        return PyErr_NoMemory();
    }
    Cursor c = {data, data + size};
    int seen = 0, ok = 1;
    const uint8_t *source = (const uint8_t *)"", *session = (const uint8_t *)"";
    size_t source_len = 0, session_len = 0;
    while (ok && c.p < c.end) {
        uint32_t number, wire;
        const uint8_t *s;
        size_t len;
        if (!walk_tag(&c, &number, &wire)) {
            ok = 0;
        } else if (number == 1 && wire == VARINT && !(seen & 2)) {
            seen |= 2;
            ok = read_varint(&c, &batch->seq);
        } else if (wire != LEN || !read_len(&c, &s, &len)) {
            ok = 0;
        } else if (number == 3) {
            if ((size_t)batch->count == capacity) {
                capacity *= 2;
                ReadingSpan *grown = PyMem_Realloc(batch->readings, capacity * sizeof(ReadingSpan));
                if (grown == NULL) {
                    Py_DECREF(batch);
                    return PyErr_NoMemory();
                }
                batch->readings = grown;
            }
            ReadingSpan *span = &batch->readings[batch->count];
            span->offset = (uint32_t)(s - data);
            span->length = (uint32_t)len;
            span->suspect = span->rewritten = 0;
            int walked = walk_reading(s, len, span, &batch->templates);
            if (walked < 0) {
                Py_DECREF(batch);
                return NULL;
            }
            ok = walked;
            batch->count++;
        } else if ((number == 2 || number == 4) && !(seen & (1 << number)) &&
                   valid_utf8(s, len)) {
            seen |= 1 << number;
            if (number == 2) source = s, source_len = len;
            else session = s, session_len = len;
        } else {
            ok = 0;
        }
    }
    if (!ok) {
        Py_DECREF(batch);
        Py_RETURN_NONE;
    }
    batch->source_id = PyUnicode_DecodeUTF8((const char *)source, (Py_ssize_t)source_len, NULL);
    batch->session_id =
        PyUnicode_DecodeUTF8((const char *)session, (Py_ssize_t)session_len, NULL);
    if (batch->source_id == NULL || batch->session_id == NULL) {
        Py_DECREF(batch);
        return NULL;
    }
    return (PyObject *)batch;
}

static PyObject *WireBatch_reading(WireBatch *self, PyObject *arg) {
    Py_ssize_t index = PyLong_AsSsize_t(arg);
    if (index == -1 && PyErr_Occurred()) return NULL;
    if (index < 0 || index >= self->count) {
        PyErr_SetString(PyExc_IndexError, "reading index out of range");
        return NULL;
    }
    ReadingSpan *span = &self->readings[index];
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(self->raw) + span->offset, span->length);
}

static int put_field_len(Buffer *b, uint32_t number, const uint8_t *s, size_t n) {
    return buffer_varint(b, (uint64_t)number << 3 | LEN) && buffer_varint(b, n) &&
           buffer_put(b, s, n);
}

/* assemble(edits): the batch's accepted readings as a ReadingBatch. ``edits`` maps a
 * suspect's index to its rewritten payload, or to None when it failed; a suspect without
 * an edit is kept as sent. */
static PyObject *WireBatch_assemble(WireBatch *self, PyObject *edits) {
    if (!PyDict_Check(edits)) {
        PyErr_SetString(PyExc_TypeError, "assemble() takes a dict");
        return NULL;
    }
    const uint8_t *raw = (const uint8_t *)PyBytes_AS_STRING(self->raw);
    Buffer out = {0};
    if (!buffer_reserve(&out, (size_t)PyBytes_GET_SIZE(self->raw) + self->output.len + 64))
        return NULL;
    Py_ssize_t n;
    const char *text;
    int ok = 1;
    if (self->seq) ok = buffer_varint(&out, 1 << 3 | VARINT) && buffer_varint(&out, self->seq);
    text = PyUnicode_AsUTF8AndSize(self->source_id, &n);
    if (ok && n) ok = put_field_len(&out, 2, (const uint8_t *)text, (size_t)n);
    text = PyUnicode_AsUTF8AndSize(self->session_id, &n);
    if (ok && n) ok = put_field_len(&out, 4, (const uint8_t *)text, (size_t)n);
    for (Py_ssize_t i = 0; ok && i < self->count; i++) {
        ReadingSpan *span = &self->readings[i];
        if (span->suspect || !self->screened) {
            PyObject *key = PyLong_FromSsize_t(i);
            if (key == NULL) {
                ok = 0;
                break;
            }
            PyObject *edit = PyDict_GetItemWithError(edits, key);
            Py_DECREF(key);
            if (edit == NULL && PyErr_Occurred()) {
                ok = 0;
            } else if (edit == Py_None) {
                continue;
            } else if (edit != NULL) {
                if (!PyBytes_Check(edit)) {
                    PyErr_SetString(PyExc_TypeError, "an edit is bytes or None");
                    ok = 0;
                } else {
                    ok = put_field_len(&out, 3, (const uint8_t *)PyBytes_AS_STRING(edit),
                                       (size_t)PyBytes_GET_SIZE(edit));
                }
            } else {
                ok = put_field_len(&out, 3, raw + span->offset, span->length);
            }
        } else if (span->rewritten) {
            ok = put_field_len(&out, 3, self->output.data + span->out_offset, span->out_length);
        } else {
            ok = put_field_len(&out, 3, raw + span->offset, span->length);
        }
    }
    PyObject *result = ok ? PyBytes_FromStringAndSize((const char *)out.data, (Py_ssize_t)out.len)
                          : NULL;
    buffer_free(&out);
    return result;
}

/* device_counts(skip): how many readings each device_id has, leaving out the indices in
 * ``skip`` (an iterable of ints). */
static PyObject *WireBatch_device_counts(WireBatch *self, PyObject *skip) {
    uint8_t *skipped = PyMem_Calloc((size_t)self->count + 1, 1);
    if (skipped == NULL) return PyErr_NoMemory();
    PyObject *counts = NULL, *iterator = PyObject_GetIter(skip), *item;
    if (iterator == NULL) goto done;
    while ((item = PyIter_Next(iterator)) != NULL) {
        Py_ssize_t index = PyLong_AsSsize_t(item);
        Py_DECREF(item);
        if (index == -1 && PyErr_Occurred()) goto done;
        if (index >= 0 && index < self->count) skipped[index] = 1;
    }
    if (PyErr_Occurred()) goto done;
    counts = PyDict_New();
    if (counts == NULL) goto done;
    const char *raw = PyBytes_AS_STRING(self->raw);
    for (Py_ssize_t i = 0; i < self->count; i++) {
        if (skipped[i]) continue;
        ReadingSpan *span = &self->readings[i];
        PyObject *device = PyUnicode_DecodeUTF8(raw + span->offset + span->device_at,
                                                (Py_ssize_t)span->device_length, NULL);
        if (device == NULL) goto fail;
        PyObject *seen = PyDict_GetItemWithError(counts, device);
        PyObject *count = NULL;
        if (seen == NULL && !PyErr_Occurred()) count = PyLong_FromLong(1);
        else if (seen != NULL) count = PyLong_FromLong(PyLong_AsLong(seen) + 1);
        int stored = count == NULL ? -1 : PyDict_SetItem(counts, device, count);
        Py_XDECREF(count);
        Py_DECREF(device);
        if (stored < 0) goto fail;
    }
    goto done;
fail:
    Py_CLEAR(counts);
done:
    Py_XDECREF(iterator);
    PyMem_Free(skipped);
    return counts;
}

static PyObject *WireBatch_get_seq(WireBatch *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->seq);
}
static PyObject *WireBatch_get_source_id(WireBatch *self, void *closure) {
    return Py_NewRef(self->source_id);
}
static PyObject *WireBatch_get_session_id(WireBatch *self, void *closure) {
    return Py_NewRef(self->session_id);
}
static PyObject *WireBatch_get_count(WireBatch *self, void *closure) {
    return PyLong_FromSsize_t(self->count);
}
static PyObject *WireBatch_get_raw(WireBatch *self, void *closure) {
    return Py_NewRef(self->raw);
}

static PyGetSetDef WireBatch_getset[] = {
    {"seq", (getter)WireBatch_get_seq, NULL, "The batch's seq.", NULL},
    {"source_id", (getter)WireBatch_get_source_id, NULL, "The batch's source_id.", NULL},
    {"session_id", (getter)WireBatch_get_session_id, NULL, "The batch's session_id.", NULL},
    {"count", (getter)WireBatch_get_count, NULL, "How many readings the batch has.", NULL},
    {"raw", (getter)WireBatch_get_raw, NULL, "The bytes walked.", NULL},
    {NULL},
};

static PyMethodDef WireBatch_methods[] = {
    {"reading", (PyCFunction)WireBatch_reading, METH_O, "The wire bytes of reading i."},
    {"device_counts", (PyCFunction)WireBatch_device_counts, METH_O,
     "How many readings each device_id has, leaving out the indices given."},
    {"assemble", (PyCFunction)WireBatch_assemble, METH_O,
     "The accepted readings as a ReadingBatch, given the suspects' edits."},
    {NULL},
};

PyTypeObject WireBatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sluice.process._wire.WireBatch",
    .tp_basicsize = sizeof(WireBatch),
    .tp_dealloc = (destructor)WireBatch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A ReadingBatch's wire bytes, walked and validated once.",
    .tp_methods = WireBatch_methods,
    .tp_getset = WireBatch_getset,
};
