"""Chapter 3's questions — Soft and hard attention: looking at parts of an image.

``quiz("ch3")`` shows them at the end of the chapter (see :mod:`utils.quiz`). Each option is
``(text, right or not, why)``: every option, wrong ones too, says why.
"""

from utils.quiz.core import Question, ask

__all__ = ["QUESTIONS"]

QUESTIONS: tuple[Question, ...] = (
    ask("Why is hard attention trained with REINFORCE rather than plain backpropagation?",
        ("Sampling an index has no gradient: nudging the scores changes \\(i\\) all at once, or not "
         "at all.", True,
         "Right (Williams 1992; Xu et al. 2015): the score-function estimator "
         "\\((r - b)\\,\\nabla \\log \\alpha_i\\) needs only the log-probability of the region sampled."),
        ("The glimpse \\(z = a_i\\) passes no gradient to the region vectors, so the CNN could not "
         "learn.", False,
         "\\(z = a_i\\) passes a gradient to the chosen region's vector, and the CNN learns by "
         "backpropagation; what has no gradient is the choice of \\(i\\), so the scores need another "
         "estimator."),
        ("Backpropagation would work, but REINFORCE needs fewer steps, since it updates only the "
         "region it sampled.", False,
         "The chapter measures the opposite: the hard models need more steps than the soft ones. "
         "REINFORCE is used because the sample has no gradient at all.")),
    ask("What does the baseline \\(b\\) change in the REINFORCE estimate "
        "\\((r - b)\\,\\nabla \\log \\alpha_i\\)?",
        ("Only its variance: the mean stays the same, because "
         "\\(\\mathbb{E}_{i \\sim \\alpha}[\\nabla \\log \\alpha_i] = 0\\).", True,
         "Right: subtracting a constant leaves the expected gradient unchanged; how much noise it "
         "removes depends on the rewards. Section 11 measures it: a large cut for the untrained model, "
         "little once the model is trained, with the same moving-average \\(b\\) both times."),
        ("It removes a bias: with \\(b = 0\\), negative rewards make the estimate wrong on "
         "average.", False,
         "Section 7 checks exactly: with \\(b = 0\\) and with \\(b\\) the mean reward, the expected "
         "estimate equals the true gradient to the last digit. Only the spread changes."),
        ("The average update: good regions now go up, where with \\(b = 0\\) every region went "
         "down.", False,
         "One sample at a time, yes: a region that did better than \\(b\\) is pushed up. On average "
         "nothing changes, since \\(\\sum_i \\alpha_i \\nabla \\log \\alpha_i = 0\\); only the noise "
         "does.")),
    ask("A soft glimpse \\(z = \\sum_i \\alpha_i a_i\\) with all the weight on region 3 is…",
        ("\\(a_3\\), the feature vector of region 3: what a hard glimpse gives if it samples 3.", True,
         "Right: a one-hot \\(\\alpha\\) picks one region, so soft and hard attention agree whenever "
         "the model is certain where to look."),
        ("The mean of all the regions' vectors, \\(\\frac{1}{L}\\sum_i a_i\\), as for any soft "
         "glimpse.", False,
         "That is the glimpse for uniform weights \\(\\alpha_i = 1/L\\); a one-hot \\(\\alpha\\) keeps "
         "only its own region."),
        ("The weight \\(\\alpha_3 = 1\\) itself: a soft glimpse says how much each region was "
         "seen.", False,
         "The glimpse lives in feature space, a vector of \\(D\\) numbers; the weights only say how "
         "much each region's vector counts in it.")),
    ask("Predict from section 8: three soft and three hard captioners are trained from scratch. "
        "After 100 steps, how do their exact matches on the held-out canvases compare?",
        ("Every soft model is well ahead of every hard model; the hard ones catch up later.", True,
         "Right: measured in section 8: 78% to 94% for soft, 3% to 4% for hard in the stored run, "
         "and the notebook asserts a gap of over 10 points between the worst soft model and the best "
         "hard one. Soft attention gets a gradient for every weight from the first step."),
        ("Every hard model is ahead: one whole, undiluted region is easier to read than a "
         "blend.", False,
         "In the end both read the digits well, but early the hard models are far behind: at step "
         "100 they must still find the digits by sampling, one region at a time."),
        ("They are level, since both kinds share the encoder, the decoder and the scoring "
         "unit.", False,
         "They share the architecture, not the way the scores learn: REINFORCE's signal says only "
         "whether the one sampled region did better than usual, so hard attention lags at first.")),
    ask("Predict from section 11: by how much does the baseline cut the variance of the hard "
        "model's REINFORCE gradient, untrained, after 150 steps, and fully trained?",
        ("Hugely when untrained, far less after 150 steps, and hardly at all once trained.", True,
         "Right: measured in section 11: 186, 1.6 and 1.2 times less in the stored run; the notebook "
         "asserts over 50 times untrained, then a smaller gain, then between 0.8 and 1.5. Untrained, "
         "all rewards are alike and \\(b\\) removes almost all the noise."),
        ("A little at first, then more and more as training goes on, most of all once trained.", False,
         "The other way round: untrained, every reward is about \\(\\log \\tfrac{1}{14}\\), so "
         "\\(r - b\\) is nearly zero; once trained, the rewards and \\(b\\) are all close to zero and "
         "subtracting \\(b\\) changes little."),
        ("By about the same factor each time, since \\(b\\) always tracks the mean reward.", False,
         "It tracks the mean, but how much of the noise the mean carries changes: nearly all of it "
         "before training, less after 150 steps, almost none once every reward is close to zero.")),
    ask("Each trained model captions the same 1,000 held-out canvases twice, hard attention in "
        "sample mode. What changes between the two runs?",
        ("Only the hard model's glimpses, on some canvases, and with them some captions.", True,
         "Right: measured in section 9: the sampled glimpses differed on 118 of 1,000 canvases, the "
         "captions on 102. The soft model's weights and captions were identical to the last bit."),
        ("Nothing for either model: once trained, both always look at the same region.", False,
         "The trained hard model is nearly certain, with a largest \\(\\alpha_i\\) above 0.95 on "
         "average, but sampling still picks another region now and then, and another word may "
         "follow."),
        ("Both: the soft weights \\(\\alpha\\) are probabilities too, so the soft glimpse varies as "
         "well.", False,
         "The soft model never draws from \\(\\alpha\\); it averages with it. The same canvas and "
         "state always give the same \\(z\\), so its two runs agree to the last bit.")),
)
