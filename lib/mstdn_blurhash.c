/* BlurHash encoding: a DCT of the linear-light image, quantised, base 83. */

#include "mstdn_blurhash.h"

#include <math.h>
#include <stdlib.h>


static const char  digits83[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    "#$%*+,-.:;=?@[]^_{|}~";


static double
to_linear(int v)
{
    double  c = v / 255.0;

    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}


static int
to_srgb(double v)
{
    if (v <= 0) {
        return 0;
    }

    if (v >= 1) {
        return 255;
    }

    if (v <= 0.0031308) {
        return (int) (v * 12.92 * 255 + 0.5);
    }

    return (int) ((1.055 * pow(v, 1 / 2.4) - 0.055) * 255 + 0.5);
}


/* |base|^exp with base's sign */
static double
sign_pow(double base, double exp)
{
    return copysign(pow(fabs(base), exp), base);
}


static char *
base83(unsigned long value, int length, char *p)
{
    int            i;
    unsigned long  d;

    for (i = 1; i <= length; i++) {
        d = value;
        for (int k = 0; k < length - i; k++) {
            d /= 83;
        }
        *p++ = digits83[d % 83];
    }

    return p;
}


static int
quantise_ac(double v, double max)
{
    int  q = (int) floor(sign_pow(v / max, 0.5) * 9 + 9.5);

    return q < 0 ? 0 : (q > 18 ? 18 : q);
}


size_t
mstdn_blurhash_encode(const unsigned char *pixels, int width, int height,
    size_t stride, int channels, int xcomponents, int ycomponents, char *out)
{
    int                   i, j, x, y, n, qmax;
    char                 *p;
    double               *f, *lin, *cx, *cy, basis, scale, max, actual;
    const unsigned char  *px;

    if (width < 1 || height < 1 || channels < 3
        || xcomponents < 1 || xcomponents > 9
        || ycomponents < 1 || ycomponents > 9)
    {
        return 0;
    }

    n = xcomponents * ycomponents;

    f = calloc(3 * n, sizeof(double));
    lin = malloc(3 * (size_t) width * height * sizeof(double));
    cx = malloc((size_t) width * xcomponents * sizeof(double));
    cy = malloc((size_t) height * ycomponents * sizeof(double));

    if (f == NULL || lin == NULL || cx == NULL || cy == NULL) {
        free(f);
        free(lin);
        free(cx);
        free(cy);
        return 0;
    }

    /* the pixels in linear light, and the cosines, computed once */
    for (y = 0; y < height; y++) {
        px = pixels + (size_t) y * stride;
        for (x = 0; x < width; x++, px += channels) {
            lin[3 * ((size_t) y * width + x)] = to_linear(px[0]);
            lin[3 * ((size_t) y * width + x) + 1] = to_linear(px[1]);
            lin[3 * ((size_t) y * width + x) + 2] = to_linear(px[2]);
        }
    }

    for (i = 0; i < xcomponents; i++) {
        for (x = 0; x < width; x++) {
            cx[i * width + x] = cos(M_PI * i * x / width);
        }
    }

    for (j = 0; j < ycomponents; j++) {
        for (y = 0; y < height; y++) {
            cy[j * height + y] = cos(M_PI * j * y / height);
        }
    }

    scale = 1.0 / ((double) width * height);

    for (j = 0; j < ycomponents; j++) {
        for (i = 0; i < xcomponents; i++) {
            double  *c = f + 3 * (j * xcomponents + i);
            double   norm = (i == 0 && j == 0) ? 1 : 2;

            for (y = 0; y < height; y++) {
                for (x = 0; x < width; x++) {
                    basis = norm * cx[i * width + x] * cy[j * height + y];
                    c[0] += basis * lin[3 * ((size_t) y * width + x)];
                    c[1] += basis * lin[3 * ((size_t) y * width + x) + 1];
                    c[2] += basis * lin[3 * ((size_t) y * width + x) + 2];
                }
            }

            c[0] *= scale;
            c[1] *= scale;
            c[2] *= scale;
        }
    }

    p = base83((xcomponents - 1) + (ycomponents - 1) * 9, 1, out);

    if (n > 1) {
        actual = 0;
        for (i = 3; i < 3 * n; i++) {
            actual = fmax(actual, fabs(f[i]));
        }

        qmax = (int) floor(actual * 166 - 0.5);
        qmax = qmax < 0 ? 0 : (qmax > 82 ? 82 : qmax);
        max = (qmax + 1) / 166.0;
        p = base83(qmax, 1, p);

    } else {
        max = 1;
        p = base83(0, 1, p);
    }

    p = base83(((unsigned long) to_srgb(f[0]) << 16)
               + ((unsigned long) to_srgb(f[1]) << 8) + to_srgb(f[2]), 4, p);

    for (i = 1; i < n; i++) {
        p = base83(quantise_ac(f[3 * i], max) * 19 * 19
                   + quantise_ac(f[3 * i + 1], max) * 19
                   + quantise_ac(f[3 * i + 2], max), 2, p);
    }

    *p = '\0';

    free(f);
    free(lin);
    free(cx);
    free(cy);

    return p - out;
}
