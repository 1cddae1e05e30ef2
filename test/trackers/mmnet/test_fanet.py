"""FANet's two modules against Eq. 6 and Eq. 7-9 on small tensors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rgbt_tracking.trackers.mmnet.fanet import FANet, HolisticCorrelation, PixelCorrelation

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_holistic_module_is_eq6():
    torch.manual_seed(0)
    module = HolisticCorrelation(channels=8, reduction=2, kernel_size=7)
    x = torch.randn(2, 8, 10, 10)
    m = module
    # W X by hand: two 7x7 stride-2 convolutions (10 -> 5 -> 3) and two 3x3 stride-2
    # deconvolutions back (3 -> 5 with no extra row, 5 -> 10 with one)
    e1 = F.relu(F.conv2d(x, m.encode1.weight, m.encode1.bias, stride=2, padding=3))
    e2 = F.relu(F.conv2d(e1, m.encode2.weight, m.encode2.bias, stride=2, padding=3))
    d1 = F.relu(F.conv_transpose2d(e2, m.decode1.weight, m.decode1.bias, stride=2, padding=1,
                                   output_padding=0))
    wx = F.conv_transpose2d(d1, m.decode2.weight, m.decode2.bias, stride=2, padding=1,
                            output_padding=1)
    assert wx.shape == (2, 1, 10, 10)
    expected = x * torch.exp(wx) / (torch.exp(wx) + 1.0)     # Eq. 6, broadcast over channels
    torch.testing.assert_close(module(x), expected, rtol=1e-5, atol=1e-6)
    for size in (7, 13, 26):                                 # any size comes back unchanged
        assert module(torch.randn(1, 8, size, size)).shape == (1, 8, size, size)


def test_pixel_module_is_eq7_to_eq9():
    torch.manual_seed(1)
    module = PixelCorrelation(channels=4, query_reduction=2)
    assert float(module.delta.detach()) == 0.0   # starts as the identity
    x0 = torch.randn(1, 4, 3, 3)
    torch.testing.assert_close(module(x0), x0)
    with torch.no_grad():
        module.delta.fill_(0.7)
    x = torch.randn(1, 4, 3, 3)
    out = module(x).detach().numpy()[0]
    xs = x.numpy()[0].reshape(4, -1)              # x_i = column i
    wq = module.query.weight.detach().numpy()[:, :, 0, 0]
    bq = module.query.bias.detach().numpy()
    wk = module.key.weight.detach().numpy()[:, :, 0, 0]
    bk = module.key.bias.detach().numpy()
    wg = module.value.weight.detach().numpy()[:, :, 0, 0]
    bg = module.value.bias.detach().numpy()
    n = xs.shape[1]
    expected = np.zeros_like(xs)
    for i in range(n):
        q = wq @ xs[:, i] + bq
        energies = np.array([q @ (wk @ xs[:, j] + bk) for j in range(n)])
        s = np.exp(energies) / np.exp(energies).sum()                       # Eq. 7
        s_p = sum(s[j] * (wg @ xs[:, j] + bg) for j in range(n))            # Eq. 8
        expected[:, i] = xs[:, i] + 0.7 * s_p                               # Eq. 9
    np.testing.assert_allclose(out.reshape(4, -1), expected, rtol=1e-5, atol=1e-5)


def test_fanet_concatenates_and_fuses_both_modules():
    torch.manual_seed(2)
    net = FANet(channels=6, holistic_reduction=3, holistic_kernel=5, query_reduction=3)
    with torch.no_grad():
        net.pixel.delta.fill_(0.3)
    x = torch.randn(2, 6, 9, 9)
    both = torch.cat([net.holistic(x), net.pixel(x)], dim=1)
    expected = torch.einsum("oc,bchw->bohw", net.fuse.weight[:, :, 0, 0], both) \
        + net.fuse.bias.reshape(1, -1, 1, 1)
    torch.testing.assert_close(net(x), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        HolisticCorrelation(4, 2, kernel_size=6)
