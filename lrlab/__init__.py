"""lrlab: the reference implementation behind the course on learning-rate schedules.

Modules, one concept each:

- :mod:`lrlab.schedules`: schedules as pure functions of the step, and their composition;
- :mod:`lrlab.torch_adapter`: use a schedule in a torch training loop, step torch's own schedulers;
- :mod:`lrlab.nqm`: the noisy quadratic model, exact moments and Monte Carlo;
- :mod:`lrlab.batch_size`: noise scale eta/B, batch ramps, the gradient noise scale;
- :mod:`lrlab.weight_decay`: effective decay, cumulative shrink, L2 vs decoupled decay;
- :mod:`lrlab.momentum`: heavy ball in both velocity conventions, energy, temperature;
- :mod:`lrlab.damping`: characteristic roots, critical damping, co-schedules, Polyak's pair;
- :mod:`lrlab.landscapes`: the tilted double well, barrier kicks, restarts as kicks;
- :mod:`lrlab.sde`: the SDE view of SGD, variance ODE, adiabatic tracking vs quench;
- :mod:`lrlab.annealing`: simulated annealing on a rugged landscape, success vs cooling speed;
- :mod:`lrlab.pac_bayes`: Gaussian KL, a linear PAC-Bayes bound, the optimal variance and rate;
- :mod:`lrlab.implicit_bias`: gradient descent on separable data vs the hard-margin SVM;
- :mod:`lrlab.data`: scikit-learn's bundled digits, split the same way everywhere, and minibatches;
- :mod:`lrlab.scaling`: linear scaling, warmup variants, WSD branches from one stable checkpoint, one-cycle momentum;
- :mod:`lrlab.schedule_free`: schedule-free SGD (Defazio et al. 2024) as a torch optimizer;
- :mod:`lrlab.lr_finder`: the learning-rate range test (loss vs rate, and a suggestion);
- :mod:`lrlab.fine_tuning`: discriminative layer-wise rates as torch parameter groups, the slanted triangular
  rate, gradual unfreezing, frozen backbone, L2-SP, forgetting;
- :mod:`lrlab.games`: the Dirac-GAN, simultaneous vs alternating updates, energy growth, TTUR, gradient penalty;
- :mod:`lrlab.gan2d`: a small 2-D GAN on a ring of Gaussians, mode coverage, batched MLPs and Adam;
- :mod:`lrlab.diffusion`: noise schedules (linear beta, cosine alpha-bar), SNR, forward noising, EMA, energy
  distance, a tiny DDPM;
- :mod:`lrlab.dp_sgd`: DP-SGD: per-example gradients (torch.func), clipping, Gaussian noise, Poisson sampling;
- :mod:`lrlab.privacy`: the RDP accountant of the sampled Gaussian mechanism, (epsilon, delta), noise for a budget;
- :mod:`lrlab.stats`: mean ± t confidence interval, paired t-test, equivalence test (TOST), seeds for a given power;
- :mod:`lrlab.population`: many small MLPs on the digits trained at once as one batched network;
- :mod:`lrlab.training`: a schedule in a plain torch training loop (a tiny regression task);
- :mod:`lrlab.device`: CPU by default, CUDA when present;
- :mod:`lrlab.plotting`: the course's figure style;
- :mod:`lrlab.chapters`: one module per book page (``lrlab.chapters.optimizers_dilemma`` for
  ``book/optimizers_dilemma.md``, ...), each chapter's parameters and experiments, shared by the page and its
  claims test ``tests/test_<page>_claims.py``; and :func:`lrlab.chapters.keep`, which hands values to the prose.
"""

from . import schedules
from .schedules import *  # noqa: F401,F403

__version__ = "0.1.0"
