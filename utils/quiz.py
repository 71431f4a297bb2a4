"""Concept questions with immediate feedback, in JupyterLab and in the static book, offline.

``quiz("ch2")`` shows a chapter's questions. Each option is an HTML ``<details>`` element: a
reader opens the option they believe in (click, or Tab then Enter) and reads at once whether it is
right and why; every option carries its own explanation, not only the right one. Nothing needs a
kernel, JavaScript or a network, so the same output works in JupyterLab, in the built book and
in an exported HTML file. Math is written ``\\( … \\)`` inside an element of class
``mathjax_process``, which both JupyterLab's and the book's MathJax typeset. A quiz answer is
never recorded and never changes a grade.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass

__all__ = ["Option", "Question", "QUIZZES", "arranged", "quiz", "right_letters"]


@dataclass(frozen=True)
class Option:
    text: str
    correct: bool
    why: str


@dataclass(frozen=True)
class Question:
    prompt: str
    options: tuple[Option, ...]


def _q(prompt: str, *options: tuple[str, bool, str]) -> Question:
    return Question(prompt, tuple(Option(*o) for o in options))


QUIZZES: dict[str, tuple[Question, ...]] = {
    "ch1": (
        _q("In the plain encoder–decoder of this chapter (GRU, hidden size \\(H\\)), what does the "
           "decoder receive about a source of 60 tokens?",
           ("The \\(H\\) numbers of the last encoder state, \\(c = h_S\\), however long the source.", True,
            "Right: the context has a fixed size. Every token must fit into the same \\(H\\) numbers, "
            "which is the bottleneck the chapter measures."),
           ("\\(60 \\times H\\) numbers, one encoder state \\(h_j\\) per source token, to read as it likes.", False,
            "That is what an attention decoder can look at (section 6). The plain decoder ignores "
            "`enc_out` and is given only the last state \\(h_S\\)."),
           ("\\(H/60\\) numbers for each token, kept apart in \\(c\\) so that the decoder can pick one.", False,
            "\\(H/S\\) is the budget per token that exercise 1 computes, but nothing keeps the tokens "
            "apart: the recurrence mixes them all into one vector.")),
        _q("With teacher forcing, which token goes into the decoder at step \\(t\\) during training?",
           ("The true previous target token \\(y_{t-1}\\), taken from the reference.", True,
            "Right: the decoder is fed the reference, so one early mistake does not derail the rest of "
            "the sentence while it learns."),
           ("The decoder's own most likely token from step \\(t-1\\), fed back in.", False,
            "That is greedy decoding, which the model must do at test time (and the "
            "`teacher_forcing=False` case of exercise 3), not teacher forcing."),
           ("The source token \\(x_t\\) at the same position, next to the context \\(c\\).", False,
            "The source reaches the decoder only through the context; source and target positions need "
            "not line up, and their lengths may differ.")),
        _q("Why is a padded position left out of the loss?",
           ("It is not data: counting it would reward predicting `<pad>` and tie the loss to the "
            "batch's longest sentence.", True,
            "Right: the mean runs over the real target tokens only, `<eos>` included, which is what "
            "exercise 2's `masked_cross_entropy` computes."),
           ("Its target id is 0, and \\(\\log 0\\) is undefined, so the loss there would be infinite "
            "or NaN.", False,
            "The target id is an index into the vocabulary, not a probability: the model may give id 0 "
            "any probability it likes. The problem is that padding is not data."),
           ("It is not left out: padding is averaged in, so that every batch of 64 carries the same "
            "weight in training.", False,
            "Then a short sentence in a long batch would count less than the same sentence in a short "
            "batch, and the model would learn to predict padding.")),
        _q("Predict from section 3: the GRU encoder–decoder (\\(H = 96\\)), trained on reversals of "
           "every length from 4 to 40, decodes new sources greedily. How does its exact match change "
           "with the length?",
           ("Nearly all right at 4 symbols, then a cliff: almost none right from 16 symbols on.", True,
            "Right: measured in section 3: 99% at 4 symbols and none from 14 on in the stored run; over "
            "eleven seeds, at least 90% at 4 and at most 1% from 16 on. The 96 numbers of \\(c\\) run "
            "out."),
           ("A slow, steady decline, still about half right at 40, since every length was trained.", False,
            "Training on a length does not make room for it in \\(c\\): exact match is 0% beyond 30 "
            "symbols in every seed. Only per-token accuracy falls gently, towards the 10% of guessing."),
           ("Flat near 100%: 96 floats hold 3,072 bits, over twenty times the 133 bits of 40 symbols.", False,
            "That is the budget on paper (exercise 1). The GRU writes with smooth, saturating functions "
            "and cannot use the low-order digits of a number, so in practice \\(c\\) holds far less.")),
        _q("Predict from exercise 4: the trained GRU reverses sources of 16 symbols by greedy "
           "decoding. Which source tokens does it get wrong most often?",
           ("Those it read first, \\(x_1\\) to \\(x_5\\), which it must also write last, after all "
            "the others.", True,
            "Right: measured in section 3: 74% wrong in the first third of the source, 38% in the last "
            "third; the notebook asserts a gap of 20 points or more. Greedy decoding writes them after "
            "all its other mistakes have been fed back."),
           ("Those it read last, \\(x_{12}\\) to \\(x_{16}\\), which it must write first, with no "
            "output to lean on.", False,
            "They are the freshest in \\(c\\): with teacher forcing the token read last is the safest, "
            "and in greedy decoding the last third has far fewer errors than the first."),
           ("All alike, about evenly spread: every source token reaches the decoder through the same "
            "\\(c\\).", False,
            "One vector, but not an even share: each new token partly overwrites the ones before it, "
            "and greedy decoding feeds each mistake back as the next input, so errors pile up at the "
            "end of the output.")),
        _q("After training, the GRU carries the gradient 30 to 39 steps back much better than the "
           "plain RNN does. Why?",
           ("Its gates have learned to keep parts of the state nearly unchanged from step to step.", True,
            "Right: where the update gate \\(z_k\\) is near 1, \\(h_k \\approx h_{k-1}\\) and "
            "\\(\\partial h_k / \\partial h_{k-1}\\) contains \\(\\mathrm{diag}(z_k)\\), close to the "
            "identity there, so the gradient passes almost unchanged."),
           ("It has three times the recurrent weights, so the gradient has more roads back to "
            "\\(x_j\\).", False,
            "More weights do not stop a product of Jacobians from shrinking: untrained, the GRU loses "
            "the signal like the RNN, by a factor of millions or more over 39 steps."),
           ("Its gates start near 1, so the gradient flows back from the very first step of "
            "training.", False,
            "An untrained gate sits near \\(\\sigma(0) = 0.5\\), so the gradient halves at every step, "
            "as in the RNN. The gates help only once training has learned to hold them open.")),
    ),
    "ch2": (
        _q("What does attention return for one query?",
           ("A weighted average of the values, weighted by the softmax of the query–key scores.", True,
            "Right: \\(\\sum_j \\alpha_j v_j\\) with \\(\\alpha = \\mathrm{softmax}(e)\\); the keys only "
            "decide the weights."),
           ("A weighted average of the keys, weighted by the softmax of their scores with the query.", False,
            "Keys are compared with the query to produce scores; what is averaged are the values "
            "(which may happen to equal the keys, as in the explorer of section 9)."),
           ("The value whose key scores highest against the query, as a dictionary lookup would.", False,
            "That is a hard choice, the strict lookup of a Python dictionary. Soft attention keeps every "
            "value, each with its weight, so the result is differentiable.")),
        _q("Why do Vaswani et al. divide the dot score by \\(\\sqrt{d_k}\\)?",
           ("With independent unit-variance components, \\(q^\\top k\\) has variance \\(d_k\\); dividing brings it "
            "back to 1.", True,
            "Right: that is their argument, and section 6 measures it. Scores that spread with \\(d_k\\) saturate the softmax, which "
            "then puts almost all weight on one key and passes back tiny gradients."),
           ("So that the weights of each query sum to one over its keys, whatever the size "
            "\\(d_k\\) is.", False,
            "The softmax makes them sum to one whatever the scale. The scale changes how peaked the "
            "weights are, not their sum."),
           ("To turn \\(q^\\top k\\) into the cosine of the angle between \\(q\\) and \\(k\\), "
            "a number in \\([-1, 1]\\).", False,
            "A cosine divides by \\(\\lVert q \\rVert\\,\\lVert k \\rVert\\), which differs from pair to "
            "pair; \\(\\sqrt{d_k}\\) is one fixed number, the typical size of \\(q^\\top k\\) for random "
            "vectors.")),
        _q("Every key of a query is masked (say, a sentence of length 0). What should its weights be?",
           ("All zeros, so that its context is a zero vector.", True,
            "Right: that is the course's rule. A plain softmax of a row of \\(-\\infty\\) computes "
            "\\(0/0\\); section 8 checks that such a row's context is zero, not NaN."),
           ("Uniform, \\(1/T_k\\) each, since no key is preferred over another.", False,
            "That would attend to positions the mask forbids, such as padding, and mix them into the "
            "context."),
           ("NaN, as the softmax of a row of \\(-\\infty\\) gives: there is nothing to attend to.", False,
            "NaN is what a plain softmax gives, and it spreads: one NaN row makes the whole loss and "
            "every gradient NaN.")),
        _q("Predict from section 6: random \\(q\\) and \\(k\\) with independent unit-variance "
           "components, 16 keys per query, unscaled scores \\(q^\\top k\\). What happens to the mean "
           "largest softmax weight as \\(d_k\\) grows from 4 to 1024?",
           ("It climbs towards 1, above 0.95 at \\(d_k = 1024\\): the softmax becomes an argmax.", True,
            "Right: measured in section 6: 0.43 at \\(d_k = 4\\), 0.96 at 1024, and the notebook asserts "
            "above 0.95. The scores spread with standard deviation \\(\\sqrt{d_k}\\), so one key wins by "
            "a wide margin."),
           ("It stays near \\(1/16\\): the keys are random, so on average none of them is preferred.", False,
            "On average none is, but within one query the scores spread with standard deviation "
            "\\(\\sqrt{d_k}\\), so one key wins by a wide margin: 0.96 at \\(d_k = 1024\\) in section 6."),
           ("It stays at about 0.25 at every \\(d_k\\), since the softmax normalises the scores.", False,
            "That is the curve of the scaled score \\(q^\\top k / \\sqrt{d_k}\\). The softmax normalises "
            "the sum of the weights, not the spread of the scores; unscaled, the largest weight climbs "
            "above 0.95.")),
        _q("You shuffle the keys of one query and its values with the same permutation. What happens "
           "to its context vector?",
           ("Nothing: the context is a sum over the keys, and the order of its terms does not matter.", True,
            "Right: each value keeps its own key's weight, and \\(\\sum_j \\alpha_j v_j\\) is the same in "
            "any order; section 8 checks it. Chapter 6 shows why this order blindness needs positions."),
           ("It is shuffled in the same way, since attention returns one row for each key.", False,
            "Attention returns one row per query, \\((B, T_q, d_v)\\); the keys are summed over, so "
            "there is nothing left to shuffle."),
           ("It changes, because each weight \\(\\alpha_j\\) depends on the position \\(j\\) of its "
            "key in the list.", False,
            "A weight depends only on the score of its query and key, \\(e(q, k_j)\\); no position "
            "enters the computation. That is why chapter 6 must add positions to the inputs.")),
        _q("A query has 6 features and the keys have 4. Which of the chapter's four scoring "
           "functions can compare them?",
           ("The general and the additive scores, whose learned matrices bridge the two sizes.", True,
            "Right: \\(q^\\top W_a k\\) with \\(W_a\\) of shape \\(6 \\times 4\\), or "
            "\\(v_a^\\top \\tanh(W_a q + U_a k)\\) with \\(W_a\\) and \\(U_a\\) mapping both to one size."),
           ("The dot and scaled dot scores, summing over the 4 features that the two share.", False,
            "\\(q^\\top k\\) needs vectors of the same size. Dropping 2 of the query's features would be "
            "an arbitrary choice, not a comparison the model learns."),
           ("All four, once the scores are divided by \\(\\sqrt{d_k}\\) to bring them to one "
            "scale.", False,
            "Scaling changes the spread of a score, not which sizes it can compare: the dot products "
            "still need \\(q\\) and \\(k\\) of the same size.")),
    ),
    "ch3": (
        _q("Why is hard attention trained with REINFORCE rather than plain backpropagation?",
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
        _q("What does the baseline \\(b\\) change in the REINFORCE estimate "
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
        _q("A soft glimpse \\(z = \\sum_i \\alpha_i a_i\\) with all the weight on region 3 is…",
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
        _q("Predict from section 8: three soft and three hard captioners are trained from scratch. "
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
        _q("Predict from section 11: by how much does the baseline cut the variance of the hard "
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
        _q("Each trained model captions the same 1,000 held-out canvases twice, hard attention in "
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
    ),
    "ch4": (
        _q("In Bahdanau's decoder, which state is compared with annotation \\(h_j\\) to choose the "
           "context of step \\(t\\)?",
           ("The previous decoder state \\(s_{t-1}\\), from before step \\(t\\).", True,
            "Right: \\(e_{t,j} = a(s_{t-1}, h_j)\\). The context \\(c_t\\) then goes into the GRU update "
            "that produces \\(s_t\\)."),
           ("The new state \\(s_t\\), after this step's GRU update.", False,
            "That is Luong's order (chapter 5). Here \\(s_t\\) is computed from \\(c_t\\), so it cannot be "
            "what chooses \\(c_t\\)."),
           ("The annotation \\(h_{j-1}\\) of the source position just before it.", False,
            "Annotations are what is attended to, the keys and values; the query comes from the "
            "decoder.")),
        _q("Predict from section 3: the encoder reads \"22 nov 2026\" and \"22 nov 2027\", which differ "
           "only in their last character. Which halves of the annotations "
           "\\(h_j = [\\overrightarrow{h}_j; \\overleftarrow{h}_j]\\) change?",
           ("The forward half at the last position only; the backward half at every position.", True,
            "Right: the forward GRU reads the changed character last, the backward GRU reads it first "
            "and carries it to all eleven positions. That is why each \\(h_j\\) sees the words on both "
            "sides of \\(j\\)."),
           ("Both halves at the last position only; the first ten annotations stay as they were.", False,
            "True of the forward half alone. The backward half reads the date from its end, so the "
            "changed character reaches every one of its states."),
           ("Both halves at every position, since every state depends on the whole date.", False,
            "The forward state at \\(j\\) has read only \\(x_1 \\dots x_j\\): the first ten forward halves "
            "never see the last character, so they do not change.")),
        _q("Why can \\(U_a h_j\\) be computed once per sentence rather than at every decoder step?",
           ("It involves only the source, never the decoder state \\(s_{t-1}\\).", True,
            "Right: only \\(W_a s_{t-1}\\) changes from step to step, so the projected keys are reused. "
            "For the dates of section 4, the projections need 9.2 times fewer multiply-adds."),
           ("Because \\(U_a\\) is frozen during training, unlike \\(W_a\\) and \\(v_a\\).", False,
            "\\(U_a\\) is trained like every other weight; it is simply the same at every step of one "
            "sentence."),
           ("Because the softmax of each step needs every position's key at once.", False,
            "It does, but that says nothing about reusing the keys at the next step. They can be reused "
            "because \\(U_a h_j\\) does not involve \\(s_{t-1}\\).")),
        _q("Predict from section 6: before any training, the model takes one step on \"22/11/26\" "
           "(8 characters), padded to the 25 of a longer date in its batch. What weights does it put "
           "on the 25 source positions?",
           ("Close to \\(1/8\\) on each of its 8 characters, and exactly 0 on each of the 17 pads.", True,
            "Right: untrained scores differ little, so the softmax over the real characters is nearly "
            "uniform (the cell asserts less than 0.03 from \\(1/8\\)), and the mask gives the pads "
            "nothing."),
           ("Close to \\(1/25\\) on every position: untrained scores cannot tell pads apart.", False,
            "The scores cannot, but the mask can: the pads' scores are set to \\(-\\infty\\) before the "
            "softmax, so the 8 characters share all the weight."),
           ("Almost all of it on one character, picked at random by the initial weights.", False,
            "Small random weights give scores that hardly differ, and a softmax of nearly equal scores "
            "is nearly uniform. Training is what sharpens the weights.")),
        _q("What does a beam search of width \\(K = 1\\) return?",
           ("The same tokens and weights as greedy decoding.", True,
            "Right: with one hypothesis, keeping the best extension means taking the most likely token "
            "at each step. Section 10 checks it on the 1,000 test dates."),
           ("The model's most probable output sequence, found exactly.", False,
            "Finding it exactly would mean scoring every sequence. A beam of 1 commits to one token at "
            "each step and can miss a sequence that starts with a less likely token."),
           ("A better output than greedy's: it scores whole sequences.", False,
            "With \\(K = 1\\) there is only one sequence to score. A beam gains over greedy decoding "
            "only by keeping several partial outputs.")),
    ),
    "ch5": (
        _q("Which decoder state is the query in Luong et al.'s attention?",
           ("The current state \\(h_t\\), after this step's recurrent update.", True,
            "Right: \\(h_t \\to a_t \\to c_t \\to \\tilde h_t\\). Bahdanau's decoder queries with the "
            "state from before the step instead."),
           ("The previous state \\(h_{t-1}\\), as in Bahdanau's decoder.", False,
            "That is chapter 4's order, with \\(s_{t-1}\\). Luong's path is simpler: update first, then "
            "attend from the new state."),
           ("The attentional state \\(\\tilde h_{t-1}\\) of the previous step.", False,
            "\\(\\tilde h_{t-1}\\) goes into this step's input (input feeding); the query is the state "
            "that the recurrent step then produces.")),
        _q("What does local-p predict at each step \\(t\\)?",
           ("The centre \\(p_t\\) of its window, a real number from 0 to \\(S\\).", True,
            "Right: \\(p_t = S \\cdot \\mathrm{sigmoid}(v_p^\\top \\tanh(W_p h_t))\\), not rounded. "
            "Attention is confined to \\([p_t - w, p_t + w]\\) and weighted by a Gaussian with "
            "\\(\\sigma = w/2\\)."),
           ("The half-width \\(w\\) of its window, larger where the step is unsure.", False,
            "\\(w\\) is fixed by hand (the chapter uses 4 on dates and 2 on reversal); only the centre "
            "is predicted."),
           ("The source position to copy, as a whole number from 0 to \\(S - 1\\).", False,
            "\\(p_t\\) is real-valued and only centres a window: inside it, the content scores still "
            "choose. A rounded position would not be differentiable.")),
        _q("What is input feeding?",
           ("Giving step \\(t\\) the attentional state \\(\\tilde h_{t-1}\\) next to the embedding "
            "of \\(y_{t-1}\\).", True,
            "Right: \\(h_t = \\mathrm{GRU}(h_{t-1}, [E\\,y_{t-1}; \\tilde h_{t-1}])\\), so each step "
            "receives what the previous step attended to directly, not only through the tokens written so far. "
            "The price: step \\(t\\)'s recurrent update waits for step \\(t-1\\)'s attention, so the GRU can "
            "no longer run over all steps in one call."),
           ("Giving every decoder step the whole source sentence again, as part of its input.", False,
            "The source reaches Luong's decoder only through attention (and the bridge to its first "
            "state); input feeding passes on the decoder's own \\(\\tilde h_{t-1}\\)."),
           ("Giving step \\(t\\) the true previous token \\(y_{t-1}\\) in training, rather than the "
            "model's own guess.", False,
            "That is teacher forcing, which chooses which token goes in. Input feeding adds "
            "\\(\\tilde h_{t-1}\\) next to that token, in training and in decoding alike.")),
        _q("Predict from section 4: the dot, general, concat and location scores train on dates with "
           "one budget of 400 steps, each stopping once it gets 98% of the validation dates right. "
           "Which one never gets there?",
           ("Location: it has to tell where each field sits from \\(h_t\\) alone.", True,
            "Right: it never reads the annotations. It was far behind when the content scores stopped "
            "(67% at step 180 in the stored run) and short of 98% after 400 steps in every seed."),
           ("Dot: with no attention parameters, it cannot learn where to look.", False,
            "Dot learns through the encoder and the decoder, which make its queries and keys; in the "
            "stored run it reached 98% first, after 160 steps."),
           ("Concat: its \\(\\tanh\\) for every step and position slows it down.", False,
            "The \\(\\tanh\\) costs time per step, but the budget counts steps, and concat reached 98% "
            "well within them, like dot and general.")),
        _q("Predict from section 7: local-p learns to reverse strings of 6 to 12 symbols. How does its "
           "window centre \\(p_t\\) move as the output step \\(t\\) grows?",
           ("Backwards from near the end, starting further right in longer strings.", True,
            "Right: output \\(t\\) reads position \\(S - 1 - t\\), and local-p tracks it, 0.68 positions "
            "off on average in the stored run. It reads \\(S\\) through the factor \\(S\\) in \\(p_t\\)."),
           ("Forwards, about one position per step, much like local-m's \\(p_t = t\\).", False,
            "That is local-m's prior, and it fails here: almost five positions off on average, and at "
            "11% of the strings exactly right in the stored run (at most 14% over eleven seeds)."),
           ("Hardly at all: it stays near \\(S/2\\), where \\(v_p = 0\\) put it at the start.", False,
            "It starts there, but \\(v_p\\) learns from the loss like every other parameter; a centre "
            "stuck in the middle would miss most symbols of the string.")),
    ),
    "ch6": (
        _q("With a causal mask, which keys may query \\(t\\) attend to?",
           ("Keys \\(0, \\dots, t\\): the lower triangle with its diagonal (`tril()`).", True,
            "Right: a position sees itself and the past, never the future. Section 2 checks it: new "
            "words at positions 4 and 5 leave the outputs at 0 to 3 unchanged."),
           ("Keys \\(0, \\dots, t-1\\): strictly before \\(t\\), no diagonal (`tril(-1)`).", False,
            "Then query 0 has no key at all, and with \\(-\\infty\\) filling its softmax is NaN. A "
            "position may always see itself."),
           ("Keys \\(t, \\dots, T-1\\): itself and the positions after it (`triu()`).", False,
            "That is the mask the wrong way round: each position would see the future it must not know "
            "about.")),
        _q("Why does a Transformer add positional encodings to its inputs?",
           ("Self-attention without a causal mask is permutation-equivariant: on its own it cannot see order.", True,
            "Right: shuffle the inputs and the outputs are shuffled the same way. Section 4 shows it: "
            "\"dog bites man\" and \"man bites dog\" give \"dog\" the same output. A causal mask breaks "
            "the symmetry and leaks some order; an encoder has no such mask."),
           ("To mark the padding positions, so that no query ever attends to them.", False,
            "That is the padding mask's job. A positional encoding is added to every position, real or "
            "padded, and hides nothing."),
           ("To hide the future from a model that writes its output left to right.", False,
            "The causal mask does that, by setting scores to \\(-\\infty\\). An encoding is added to the "
            "inputs and hides nothing.")),
        _q("Multi-head attention with \\(h\\) heads, on inputs of \\(E = d_{model}\\) features: what are "
           "one head's queries, keys and values at each position?",
           ("Vectors of \\(d_k = E/h\\) features, projected from all \\(E\\) input features.", True,
            "Right: \\(W_i^Q\\) is \\(E \\times d_k\\) and reads every input feature. In code the \\(h\\) "
            "matrices sit side by side in one \\(E \\times E\\) `q_proj`, and `split_heads` gives head "
            "\\(i\\) its \\(d_k\\) features of the result."),
           ("Vectors of \\(d_k = E/h\\) features, projected from the head's own \\(E/h\\) input "
            "features.", False,
            "The heads split the projections' output, not their input: each \\(W_i^Q\\) is "
            "\\(E \\times d_k\\), so every head reads all \\(E\\) features of every position."),
           ("Vectors of \\(E\\) features, one full-width projection of the inputs per head.", False,
            "A head could be that wide, but \\(h\\) heads would then cost \\(h\\) times one. The "
            "Transformer uses \\(d_k = E/h\\) (64 = 512/8), so all heads cost about as much as one.")),
        _q("Predict from section 5: the sorter is trained once more, for 100 steps, without positional "
           "encodings. What share of the held-out sequences does it sort exactly right?",
           ("Almost none, under 5%: it cannot tell its positions apart.", True,
            "Right: 0.0% in the stored run. Without positions, output \\(t\\) depends only on the "
            "symbol at \\(t\\) and on the multiset of its symbols (which ones, how often), yet it must be the \\(t\\)-th smallest."),
           ("98% or more, as with positions: each position sees every symbol.", False,
            "Seeing every symbol is not enough: sorting needs order, which self-attention alone cannot "
            "see. Only with sinusoidal or learned positions does it sort 98% or more."),
           ("About half: the short sequences, where there is little to order.", False,
            "Length does not help: in two orders of the same five symbols, one symbol would need two "
            "different outputs, and without positions it gets one.")),
        _q("Predict from section 5: in the trained two-layer sorter, how do the attention rows of "
           "layer 1 and layer 2 compare?",
           ("Layer 2's are sharper, and its top key more often holds the answer.", True,
            "Right: in the stored run, 1.95 nats and 39% in layer 1, 1.20 nats and 84% in layer 2. The "
            "first layer takes stock of the sequence, the second fetches the symbol to output."),
           ("Layer 1's are sharper: it fetches the answer, and layer 2 spreads it.", False,
            "The other way round: layer 1's rows are close to uniform (about \\(e^{1.95} \\approx 7\\) "
            "keys' worth in the stored run), and layer 2's look at the symbol to output."),
           ("Both stay close to uniform: to sort, every symbol matters to each row.", False,
            "Every symbol matters, but once layer 1 has gathered a summary, layer 2 can fetch one: "
            "its rows hold about 3 keys' worth of weight in the stored run, not 7.")),
        _q("Predict from section 7: the sequence length \\(T\\) doubles. By what factor does the memory "
           "of one layer's attention weights grow, and that of the BiLSTM's outputs?",
           ("4 for the weights, 2 for the BiLSTM's outputs.", True,
            "Right: the weights are \\(B \\cdot h \\cdot T \\cdot T\\) numbers, the outputs "
            "\\(B \\cdot T \\cdot 64\\). At \\(T = 1024\\), for a batch of 4, the weights take 64 MiB and "
            "the outputs 1 MiB."),
           ("2 for both: each keeps a set number of values per position.", False,
            "The outputs do, but the weights keep one number per pair of positions and per head, "
            "\\(T \\times T\\), which grows 4 times when \\(T\\) doubles."),
           ("4 for both: the BiLSTM relates every pair of positions too.", False,
            "A recurrence relates positions through its state, one step at a time. It keeps \\(T\\) "
            "outputs of 64 features, which grow 2 times.")),
    ),
    "ch7": (
        _q("Which keys may the decoder's self-attention at target position \\(t\\) see?",
           ("Positions \\(0, \\dots, t\\): itself and the target tokens that came before it.", True,
            "Right: the causal mask hides the tokens after \\(t\\), the next one first, since it is "
            "what position \\(t\\) must predict."),
           ("Positions \\(0, \\dots, t+1\\): the past and the token it must predict.", False,
            "Then training would show each position its own answer, and the model would learn to copy it."),
           ("Every target position, since the whole target is known in training.", False,
            "They are known, but at test time they are not: training must see only what decoding will see.")),
        _q("In cross-attention, where do the queries, keys and values come from?",
           ("Queries from the encoder's outputs, keys and values from the decoder.", False,
            "The other way round: there is one output row per target position, so the queries are the decoder's."),
           ("Queries, keys and values all from the encoder's outputs.", False,
            "That is the encoder's self-attention; the decoder would then never ask anything."),
           ("Queries from the decoder, keys and values from the encoder's outputs.", True,
            "Right: each target position asks, and the source answers, as in chapter 4 with the "
            "decoder state as the query.")),
        _q("Predict from section 5: a Transformer whose source positions are counted from the start "
           "only is trained to reverse strings of 4 to 40 symbols. What does it get right?",
           ("About what the plain GRU gets: some short strings, none from 16 symbols on.", True,
            "Right: in the runs section 5 reports, at most half of the 4-symbol strings and none from 16 "
            "on. Output \\(t\\) must find the symbol \\(t\\) places from the end, and positions counted "
            "from the start do not say where the end is. Counted from both ends, it reverses every length."),
           ("Every length, like Bahdanau's decoder: attention removed the bottleneck.", False,
            "Attention can read every symbol, but it must also know which one to read; here that "
            "depends on the length, which its positions do not tell it."),
           ("Long strings better than short ones, since a long string gives more context.", False,
            "The reverse: in the runs section 5 reports, it did best on the shortest strings (at most "
            "half of those of 4 symbols) and got none right from 16 symbols on.")),
        _q("Why can a Transformer be trained on a whole target in one parallel pass?",
           ("The causal mask shows each position what decoding would; no position waits for another.", True,
            "Right: with teacher forcing the inputs are known, and nothing in a block depends on "
            "the previous position's result, unlike \\(s_t = f(s_{t-1}, \\dots)\\)."),
           ("With no recurrence it needs no teacher forcing, so no position ever waits for a token.", False,
            "It is trained with teacher forcing, like the recurrent models: the true previous tokens go in."),
           ("The key–value cache already holds the keys and values of every earlier target position.", False,
            "The cache serves decoding, one token at a time; training needs no cache.")),
        _q("With a key–value cache, what does one decoding step of a decoder layer compute?",
           ("The whole prefix again: a new token changes the keys and values of the earlier ones.", False,
            "Thanks to the causal mask, the past never sees the new token, so its keys and values do not change."),
           ("Only the new token's query, key and value; its key and value join the cache.", True,
            "Right: the attention then reads all cached keys, but nothing is recomputed, and the "
            "output is identical."),
           ("Nothing new: the cache already holds the outputs of the steps still to come.", False,
            "The future is unknown when decoding; the cache stores the past's keys and values.")),
        _q("Predict from section 6: after training, how does the gradient reaching a source symbol, "
           "\\(\\lVert \\partial \\mathcal{L} / \\partial (E x_j) \\rVert\\), vary with its distance "
           "from the end of the source?",
           ("It fades with distance in the plain GRU, not in the Transformer.", True,
            "Right: 30 to 39 steps back, the GRU's is about a fifth of its size at the last tokens in "
            "the stored run, while the Transformer's is at least as large (1.2 times or more in every "
            "seed): every symbol is two attention steps from every output."),
           ("It fades with distance in both models, only more slowly in the Transformer.", False,
            "In the Transformer the path has the same length for every symbol, so nothing makes the "
            "far ones fade: 30 to 39 steps back its gradient was larger than at the end in every seed."),
           ("It fades in neither: a trained model needs every symbol alike.", False,
            "The plain GRU's gradient must cross every later encoder step, and it fades: 30 to 39 steps "
            "back, about a fifth of its size at the last tokens in the stored run.")),
    ),
    # chapter 8: sections 1 and 2 so far (the cost measured, the online softmax); sections 3 to 5 will add theirs
    "ch8": (
        _q("Predict from section 1: the readable attention of one head needs 129 MiB at its peak for "
           "\\(T = 4096\\). How much does it need for \\(T = 8192\\)?",
           ("About 514 MiB: four times as much, since its two \\(T \\times T\\) matrices grow with \\(T^2\\).", True,
            "Right: measured in section 1, 129 MiB then 514 MiB, exactly two \\(T \\times T\\) matrices of "
            "float32 and the small output. These are counts, the same on every machine."),
           ("About 258 MiB: twice as much, since the queries, keys, values and output it holds all grow in proportion to \\(T\\).", False,
            "\\(Q\\), \\(K\\) and \\(V\\) do double, but they are a few MiB; the scores and the weights "
            "hold one number per pair of positions, and there are four times as many pairs."),
           ("About 129 MiB again: the softmax works one row at a time.", False,
            "The readable version builds every row at once: the whole \\((T, T)\\) matrix of scores, then "
            "the whole matrix of weights. Section 2 is about not doing that.")),
        _q("Why does a stable softmax subtract the maximum score \\(m\\) before taking exponentials?",
           ("So that no exponential exceeds 1: \\(e^{89}\\) already overflows float32, and \\(m\\) cancels "
            "in the ratio.", True,
            "Right: \\(e^{e_j - m} / \\sum_k e^{e_k - m}\\) is the same softmax, and every term is at most 1."),
           ("To make the weights sharper, so that the position with the largest score takes more of the weight than the "
            "others.", False,
            "The weights do not change at all: the factor \\(e^{-m}\\) is in the numerator and the "
            "denominator, and cancels."),
           ("Because exp is only defined for negative numbers in float32.", False,
            "exp takes any number; the trouble is that for inputs above about 88.7 the result is larger than "
            "the largest float32 and becomes inf.")),
        _q("Two partial results are merged, and block 2's maximum is larger: \\(m_2 > m_1\\). What "
           "happens to block 1's normaliser \\(\\ell_1\\) and output \\(o_1\\)?",
           ("Nothing: they were computed before block 2 arrived, so they are final; only block 2's sums need rescaling.", False,
            "That is the classic mistake: they were computed against \\(m_1\\), and each term "
            "\\(e^{e_j - m_1}\\) must become \\(e^{e_j - m_2}\\) to be added to block 2's."),
           ("Both are multiplied by \\(e^{m_1 - m_2}\\), less than 1, to bring them to the common maximum.", True,
            "Right: \\(e^{e_j - m_1} e^{m_1 - m_2} = e^{e_j - m_2}\\), so the rescaled sums are exactly those "
            "a single pass against \\(m_2\\) would have made."),
           ("Both are divided by block 2's normaliser \\(\\ell_2\\), so that the weights sum to 1.", False,
            "Dividing comes once, at the very end, by the merged \\(\\ell\\); a partial result keeps "
            "its sums unnormalised.")),
        _q("Predict from section 2: attention computed in blocks of 256 keys needs 13 MiB at its peak for "
           "\\(T = 4096\\). How much for \\(T = 8192\\)?",
           ("About 52 MiB: four times as much, like any attention, since there are four times as many scores.", False,
            "There are four times as many scores, but they are never all held at once: a tile of 256 keys "
            "for all \\(T\\) queries is, and it only doubles."),
           ("About 13 MiB again: the block size is fixed, so the memory is fixed.", False,
            "The block size fixes the number of keys in a tile, not the number of queries: every tile "
            "has one row per query, \\(T \\times 256\\) numbers."),
           ("About 26 MiB: twice as much, a few \\((T, 256)\\) tiles.", True,
            "Right: measured in section 2, 13 MiB then 26 MiB, about three tiles of \\(T \\times 256\\) "
            "numbers at every length: memory \\(O(T \\cdot \\text{block})\\).")),
        _q("Does attention computed block by block do less arithmetic than the readable version?",
           ("Yes: it computes \\(T \\times \\text{block}\\) scores instead of \\(T^2\\).", False,
            "That is one tile; it computes a tile for every block of keys, \\(T^2\\) scores in all "
            "(fewer only with a causal mask, whose future blocks it skips)."),
           ("No: every query still meets every key; what shrinks is the memory, and the traffic to it.", True,
            "Right: the multiply-adds are the same, \\(2 T^2 d\\). On a GPU the saving in memory traffic "
            "is what makes FlashAttention fast."),
           ("Yes: the online softmax needs one pass over the scores instead of two.", False,
            "It saves a pass over stored scores, but each score is still computed once and multiplied "
            "with its value; the arithmetic is the same.")),
        _q("What does FlashAttention keep from the forward pass to compute the gradients?",
           ("\\(Q\\), \\(K\\), \\(V\\), the output and one number per query, \\(L = m + \\log \\ell\\).", True,
            "Right: each tile of weights is recomputed as \\(e^{S - L}\\) in the backward pass. Section 2 measured "
            "\\(T (4d + 1)\\) numbers kept by `F.scaled_dot_product_attention`, instead of \\(T^2\\)."),
           ("The \\(T \\times T\\) weights in half precision, which halves their memory.", False,
            "Half precision would halve a \\(T^2\\) cost and keep it \\(T^2\\); FlashAttention keeps "
            "no \\(T \\times T\\) matrix at all."),
           ("Every tile of scores it computed, as autograd does for the blockwise loop, so that nothing is computed twice.", False,
            "That is what autograd does for a Python loop (section 2 measured 2.65 matrices' worth); "
            "FlashAttention's own backward pass avoids it by recomputing the tiles.")),
    ),
}


def arranged(question: Question) -> tuple[Option, ...]:
    """The options in display order: a fixed shuffle drawn from the question's own text (SHA-256),
    so every reader sees the same letters, and the right answer's place follows no pattern a
    reader could learn from one chapter and use in the next (``tests/test_quiz.py`` checks)."""
    digest = hashlib.sha256(question.prompt.encode("utf-8")).digest()
    keys = [digest[i] for i in range(len(question.options))]
    order = sorted(range(len(question.options)), key=lambda i: (keys[i], i))
    return tuple(question.options[i] for i in order)


def right_letters(key: str) -> str:
    """The letters of the right answers of chapter ``key``'s quiz, in order (for the lint test)."""
    return "".join("ABCDEF"[[o.correct for o in arranged(q)].index(True)] for q in QUIZZES[key])


class Quiz:
    """A chapter's questions, shown as HTML (``_repr_html_``) or as plain text (``__repr__``)."""

    def __init__(self, key: str, questions: tuple[Question, ...]) -> None:
        self.key, self.questions = key, questions

    def _repr_html_(self) -> str:
        parts = [f'<div class="course-quiz mathjax_process" role="group" aria-label="Check your understanding ({self.key})">']
        for n, q in enumerate(self.questions, 1):
            qid = f"quiz-{self.key}-{n}"
            parts.append(f'<div class="course-quiz-question" role="group" aria-labelledby="{qid}">')
            parts.append(f'<p id="{qid}"><strong>Question {n}.</strong> {_inline(q.prompt)}</p>')
            for letter, option in zip("ABCDEF", arranged(q)):
                verdict = "✅ Right." if option.correct else "❌ Not this one."
                parts.append(
                    f'<details class="course-quiz-option"><summary>{letter}. {_inline(option.text)}</summary>'
                    f'<p><strong>{verdict}</strong> {_inline(option.why)}</p></details>')
            parts.append("</div>")
        parts.append("<p><em>Open the option you believe in to see whether it is right, and why. "
                     "Answers are not recorded.</em></p></div>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        lines = []
        for n, q in enumerate(self.questions, 1):
            lines.append(f"Question {n}. {q.prompt}")
            lines += [f"  {letter}. {o.text}" for letter, o in zip("ABCDEF", arranged(q))]
        return "\n".join(lines)


def _inline(text: str) -> str:
    """Escape HTML, then render `code` spans; math stays as \\( … \\) for MathJax."""
    out, code = [], False
    for piece in html.escape(text, quote=False).split("`"):
        out.append(f"<code>{piece}</code>" if code else piece)
        code = not code
    return "".join(out)


def quiz(key: str) -> Quiz:
    """The questions of chapter ``key`` (``"ch1"`` … ``"ch7"``), ready to display."""
    if key not in QUIZZES:
        raise KeyError(f"no quiz called {key!r}; there are {', '.join(QUIZZES)}")
    return Quiz(key, QUIZZES[key])
