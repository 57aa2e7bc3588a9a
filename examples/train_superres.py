"""Train a tiny x2 super-resolution network with upsamplex.nn / upsamplex.optim.

Same as ``python -m upsamplex train-demo``; run ``python examples/train_superres.py --help``.
The training loop itself is ``upsamplex._train_demo.train``; in short::

    model = SuperResolution()                      # bicubic(x) + Conv/ConvTranspose residual
    opt = optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.MSELoss()
    for step in range(steps):
        hr = synthetic_images(rng, 16)             # 32x32 blobs, edges, stripes
        lr = interpolate(hr, size=(16, 16), mode="area")
        opt.zero_grad()
        loss = loss_fn(model(lr), hr)
        model.backward(loss_fn.backward())
        opt.step()
"""

import sys

from upsamplex._train_demo import main

if __name__ == "__main__":
    sys.exit(main())
